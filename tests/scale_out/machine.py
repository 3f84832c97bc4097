"""One machine of the two-machine tests: a partition-range run of ADICT's informative
consumption from a GAZODUC_HOME of its own, sharing only what the environment names
(GAZODUC_DATABASE_URL, GAZODUC_STORAGE_URL and the AWS_* of its bucket).

GAZODUC_TEST_CLOCK_SHIFT=<seconds> sets this machine's wall clock that far ahead.

python -m tests.scale_out.machine '<json: adict resource settings, home, first, last>'
"""

from __future__ import annotations

import json
import os
import sys

from tests.scale_out.ledger_worker import shift_wall_clock


def main(spec: dict) -> int:
    shift_wall_clock(float(os.environ.get("GAZODUC_TEST_CLOCK_SHIFT", "0")))
    from tests.integration.backfill_worker import main as backfill

    return backfill(spec)


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))
