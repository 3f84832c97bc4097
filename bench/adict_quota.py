"""Quota use of a 1-year informative backfill of the sandbox portfolio, at 1 call/s.

Runs the real assets (access rights, then one single-run backfill of 365 gas days) against
the ADICT sandbox at the production limit, and reads the sandbox's own call log:

- calls spent versus the theoretical minimum (one call per PCE whose right opens the
  data, since a year fits in one 3-year window) and versus one call per partition;
- calls per second achieved versus the limit, over the run;
- calls the server rejected (429): must be 0.

Twice: on an idle machine, then with a busy loop on every core (`--busy 0` for idle only):
GRDF counts arrivals, and a loaded machine delays them unevenly.

    .venv/bin/python bench/adict_quota.py --portfolio 60
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import time
from datetime import date, timedelta

import dagster as dg
from machine_load import busy_loops

from assets.adict import access_rights, informative_consumption
from pipelines.partitions import paris_today
from pipelines.planner import opens, right_from_record
from resources.adict import ENDPOINTS, AdictResource, is_valid_pce_id
from resources.warehouse import WarehouseResource
from sandbox.adict_app import AdictSandbox, AdictSandboxConfig, build_adict_app
from sandbox.server import SandboxServer

CLIENT = ("bench", "bench-secret")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--portfolio", type=int, default=60)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--calls-per-second", type=float, default=1.0)
    parser.add_argument(
        "--busy", type=int, default=os.cpu_count() or 2, help="busy loops of the loaded run"
    )
    args = parser.parse_args()
    for busy in sorted({0, args.busy}):
        with busy_loops(busy):
            measure(args, busy)


def measure(args: argparse.Namespace, busy: int) -> None:
    today = paris_today()
    last = today - timedelta(days=1)
    first = last - timedelta(days=args.days - 1)
    config = AdictSandboxConfig(
        portfolio_size=args.portfolio,
        calls_per_second=args.calls_per_second,
        clients=dict([CLIENT]),
    )
    app = build_adict_app(config)
    with tempfile.TemporaryDirectory() as home, SandboxServer(app) as server:
        os.environ["GAZODUC_HOME"] = home
        resources = {
            "adict": AdictResource(
                base_url=f"{server.base_url}/adict/v2",
                token_url=f"{server.base_url}/oauth2/token",
                client_id=CLIENT[0],
                client_secret=CLIENT[1],
                calls_per_second=args.calls_per_second,
                state_dir=f"{home}/state",
            ),
            "warehouse": WarehouseResource(home=home),
        }
        dg.materialize([access_rights], resources=resources)
        started = time.monotonic()
        dg.materialize(
            [informative_consumption],
            resources=resources,
            tags={
                "dagster/asset_partition_range_start": first.isoformat(),
                "dagster/asset_partition_range_end": last.isoformat(),
            },
        )
        elapsed = time.monotonic() - started
        delays = observed_delays(f"{home}/state/quota.sqlite")
    report(app.state.sandbox, args, elapsed, today, busy, delays)


def observed_delays(ledger: str) -> list[float]:
    """Grant-to-answer delays the ledger learned from, in ms, sorted."""
    with sqlite3.connect(ledger) as con:
        rows = con.execute("SELECT delay FROM slots WHERE delay IS NOT NULL").fetchall()
    return sorted(1000 * delay for (delay,) in rows)


def report(
    sandbox: AdictSandbox,
    args: argparse.Namespace,
    elapsed: float,
    today: date,
    busy: int,
    delays: list[float],
) -> None:
    log = sandbox.quota.calls()
    calls = [c for c in log if "donnees_consos_informatives" in c.path]
    times = sorted(c.time for c in calls)
    rate = (len(times) - 1) / (times[-1] - times[0])
    endpoint = ENDPOINTS["informative_consumption"]
    rights = [
        right_from_record(r) for r in sandbox.portfolio.rights if is_valid_pce_id(r["id_pce"])
    ]
    minimum = len({r.id_pce for r in rights if opens(r, endpoint, today)})
    limit = args.calls_per_second
    reasks = len(calls) - len({c.path for c in calls})
    rows = [
        ("calls spent", f"{len(calls):,}", f"{reasks} re-asked for a block GRDF failed"),
        ("theoretical minimum", f"{minimum:,}", "one per PCE whose right opens the data"),
        ("one call per partition", f"{minimum * args.days:,}", "for scale"),
        ("calls/s achieved", f"{rate:.3f}", f"limit {limit:g}: {100 * rate / limit:.1f}%"),
        ("rejected calls (429)", f"{sum(c.status == 429 for c in log):,}", "must be 0"),
        ("backfill wall time", f"{elapsed:.1f} s", ""),
        (
            "grant-to-answer delay",
            f"{delays[len(delays) // 2]:.0f} ms",
            f"median; p95 {delays[int(len(delays) * 0.95)]:.0f} ms, max {delays[-1]:.0f} ms",
        ),
    ]
    load = f"{busy} busy loop{'s' if busy != 1 else ''}" if busy else "idle machine"
    print(
        f"informative backfill: {args.portfolio} PCEs x {args.days} gas days, {limit:g} call/s, "
        f"{load}"
    )
    for name, value, note in rows:
        print(f"  {name:<24} {value:>10}  {note}")


if __name__ == "__main__":
    main()
