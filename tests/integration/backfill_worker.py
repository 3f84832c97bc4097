"""A backfill in its own process, for the kill and concurrency tests.

python -m tests.integration.backfill_worker '<json: resource settings, home, first, last>'
"""

from __future__ import annotations

import json
import sys

import dagster as dg

from assets.adict import informative_consumption
from resources.adict import AdictResource
from resources.warehouse import WarehouseResource


def main(spec: dict) -> int:
    resources = {
        "adict": AdictResource(**spec["adict"]),
        "warehouse": WarehouseResource(home=spec["home"]),
    }
    tags = {
        "dagster/asset_partition_range_start": spec["first"],
        "dagster/asset_partition_range_end": spec["last"],
    }
    result = dg.materialize([informative_consumption], resources=resources, tags=tags)
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))
