"""Quota use of an Ingrid backfill of every dated resource, at 1 call/s.

Runs the real assets (one single-run backfill over all 15 dated resources) against the
Ingrid sandbox at our polite limit and reads the sandbox's own call log:

- calls spent versus the theoretical minimum: per resource, the ranges the API accepts
  (31 gas days each) or the pages its records need, whichever is more;
- calls per second achieved versus the limit, over the run;
- calls the server rejected (429): must be 0.

    .venv/bin/python bench/ingrid_quota.py --days 92
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from datetime import timedelta

import dagster as dg

from assets.ingrid import INGRID_ASSETS
from pipelines.partitions import paris_today
from resources.ingrid import IngridResource
from resources.ingrid_endpoints import ENDPOINTS, PAGE_SIZE
from resources.warehouse import WarehouseResource
from sandbox.ingrid_app import IngridSandboxConfig, build_ingrid_app
from sandbox.ingrid_data import expected_records
from sandbox.server import SandboxServer

CLIENT, CONTRACT = ("bench", "bench-secret"), "GRT-SHP-0001"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=92)
    parser.add_argument("--calls-per-second", type=float, default=1.0)
    args = parser.parse_args()
    last = paris_today() - timedelta(days=2)  # closed whatever the hour
    first = last - timedelta(days=args.days - 1)
    config = IngridSandboxConfig(
        clients=dict([CLIENT]),
        contracts={CLIENT[0]: (CONTRACT,)},
        calls_per_second=args.calls_per_second,
    )
    app = build_ingrid_app(config)
    dated = [a for a, e in zip(INGRID_ASSETS, ENDPOINTS, strict=True) if e.dated]
    with tempfile.TemporaryDirectory() as home, SandboxServer(app) as server:
        resources = {
            "ingrid": IngridResource(
                base_url=server.base_url,
                token_url=f"{server.base_url}/oauth2/token",
                client_id=CLIENT[0],
                client_secret=CLIENT[1],
                contract_code=CONTRACT,
                calls_per_second=args.calls_per_second,
                state_dir=f"{home}/state",
            ),
            "warehouse": WarehouseResource(home=home),
        }
        started = time.monotonic()
        dg.materialize(
            dated,
            resources=resources,
            tags={
                "dagster/asset_partition_range_start": first.isoformat(),
                "dagster/asset_partition_range_end": last.isoformat(),
            },
        )
        elapsed = time.monotonic() - started
    log = app.state.sandbox.quota.calls()
    minimum = 0
    for endpoint in (e for e in ENDPOINTS if e.dated):
        records = len(expected_records(endpoint.name, first, last, as_of=paris_today()))
        ranges = math.ceil(args.days / endpoint.max_days)
        minimum += max(ranges, math.ceil(records / PAGE_SIZE))
    times = sorted(c.time for c in log)
    rate = (len(times) - 1) / (times[-1] - times[0])
    limit = args.calls_per_second
    print(f"Ingrid backfill: 15 dated resources x {args.days} gas days, {limit:g} call/s")
    for name, value, note in (
        ("calls spent", f"{len(log):,}", "every call the sandbox received"),
        ("theoretical minimum", f"{minimum:,}", "per resource: ranges of 31 days or pages"),
        ("one call per partition", f"{15 * args.days:,}", "for scale"),
        ("calls/s achieved", f"{rate:.3f}", f"limit {limit:g}: {100 * rate / limit:.1f}%"),
        ("rejected calls (429)", f"{sum(c.status == 429 for c in log):,}", "must be 0"),
        ("backfill wall time", f"{elapsed:.1f} s", ""),
    ):
        print(f"  {name:<24} {value:>10}  {note}")


if __name__ == "__main__":
    main()
