"""One machine of the shared-ledger tests: ADICT calls through the ledger the environment
chooses (GAZODUC_DATABASE_URL), from a GAZODUC_HOME of its own.

GAZODUC_TEST_CLOCK_SHIFT=<seconds> sets this process's wall clock that far ahead, as a
machine whose clock is off: time.time() moves, the monotonic clock does not.

python -m tests.scale_out.ledger_worker '<json: adict resource settings, id_pce, calls>'
"""

from __future__ import annotations

import json
import os
import sys
import time


def shift_wall_clock(seconds: float) -> None:
    real = time.time
    time.time = lambda: real() + seconds


def main(spec: dict) -> int:
    shift_wall_clock(float(os.environ.get("GAZODUC_TEST_CLOCK_SHIFT", "0")))
    from pipelines.partitions import paris_today
    from resources.adict import AdictResource

    with AdictResource(**spec["adict"]).client() as client:
        for _ in range(spec["calls"]):
            client.document("technical_data", spec["id_pce"], paris_today())
    return 0


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))
