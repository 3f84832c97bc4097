"""Calls/s and rejections of worker processes sharing one quota ledger, against the ADICT
sandbox's real per-second quota.

Each worker is a machine of its own (its own GAZODUC_HOME) taking a fixed number of calls
for one client: 1, 2 and 4 of them on the PostgreSQL ledger (a fresh database, dropped
after), then 2 on one SQLite ledger for reference (one machine: a shared home). The rate
is read from the sandbox's own log, first to last arrival; the delays are the ones the
ledger learned from (grant to answer, as each process measured it). Twice: on an idle
machine, then with busy loops (`--busy 0` for idle only).

    .venv/bin/python bench/shared_ledger.py --calls 30
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sqlite3
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2
from machine_load import busy_loops

from pipelines.partitions import paris_today
from resources.adict import AdictResource
from resources.quota import ledger_path
from sandbox.adict_app import AdictSandboxConfig, build_adict_app
from sandbox.server import SandboxServer

CLIENT = ("bench", "bench-secret")


@dataclass(frozen=True)
class Setup:
    name: str
    workers: int
    database: bool  # the PostgreSQL ledger, else one SQLite file


SETUPS = [
    Setup("PostgreSQL", 1, True),
    Setup("PostgreSQL", 2, True),
    Setup("PostgreSQL", 4, True),
    Setup("SQLite (reference)", 2, False),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=30, help="calls per worker")
    parser.add_argument("--calls-per-second", type=float, default=1.0)
    parser.add_argument(
        "--admin-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="a PostgreSQL role that may create the bench's database",
    )
    parser.add_argument("--busy", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    for busy in sorted({0, args.busy}):
        load = f"{busy} busy loop{'s' if busy != 1 else ''}" if busy else "idle machine"
        print(f"{args.calls} calls per worker, {args.calls_per_second:g} call/s, {load}")
        print(f"  {'ledger':<20} {'workers':>7} {'calls/s':>8} {'of limit':>8} {'429':>4}  delay")
        with busy_loops(busy):
            for setup in SETUPS:
                measure(args, setup)


@contextmanager
def fresh_database(admin_url: str) -> Iterator[str]:
    name = f"gazoduc_bench_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(admin_url)
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def measure(args: argparse.Namespace, setup: Setup) -> None:
    config = AdictSandboxConfig(calls_per_second=args.calls_per_second, clients=dict([CLIENT]))
    app = build_adict_app(config)
    with (
        tempfile.TemporaryDirectory() as tmp,
        SandboxServer(app) as server,
        fresh_database(args.admin_url) as url,
    ):
        settings = {
            "base_url": f"{server.base_url}/adict/v2",
            "token_url": f"{server.base_url}/oauth2/token",
            "client_id": CLIENT[0],
            "client_secret": CLIENT[1],
            "calls_per_second": args.calls_per_second,
        }
        id_pce = app.state.sandbox.portfolio.pces[0].id_pce
        database = url if setup.database else None
        homes = [
            Path(tmp) / (f"machine-{n}" if setup.database else "machine")
            for n in range(setup.workers)
        ]
        run_workers(settings, id_pce, args.calls, database, homes)
        delays = observed_delays(url if setup.database else ledger_path(homes[0] / "state"))
    report(setup, app.state.sandbox.quota.calls(), args.calls_per_second, delays)


def run_workers(
    settings: dict[str, Any], id_pce: str, calls: int, database: str | None, homes: list[Path]
) -> None:
    ctx = multiprocessing.get_context("spawn")
    workers = [
        ctx.Process(target=_work, args=(settings, id_pce, calls, database, str(home)))
        for home in homes
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
        if worker.exitcode != 0:
            raise SystemExit(f"a worker failed (exit code {worker.exitcode})")


def _work(
    settings: dict[str, Any], id_pce: str, calls: int, database: str | None, home: str
) -> None:
    os.environ["GAZODUC_HOME"] = home
    if database:
        os.environ["GAZODUC_DATABASE_URL"] = database
    with AdictResource(**settings).client() as client:
        for _ in range(calls):
            client.document("technical_data", id_pce, paris_today())


def observed_delays(where: str | Path) -> list[float]:
    """Grant-to-answer delays the ledger learned from, in ms, sorted."""
    sql = "SELECT delay FROM {} WHERE delay IS NOT NULL"
    if isinstance(where, Path):
        with sqlite3.connect(where) as con:
            rows = con.execute(sql.format("slots")).fetchall()
    else:
        with psycopg2.connect(where) as con, con.cursor() as cursor:
            cursor.execute(sql.format("gazoduc.quota_slots"))
            rows = cursor.fetchall()
    return sorted(1000 * delay for (delay,) in rows)


def report(setup: Setup, calls: list[Any], limit: float, delays: list[float]) -> None:
    times = sorted(c.time for c in calls if c.status == 200)
    rate = (len(times) - 1) / (times[-1] - times[0])
    rejected = sum(c.status == 429 for c in calls)
    median, p95 = delays[len(delays) // 2], delays[int(len(delays) * 0.95)]
    print(
        f"  {setup.name:<20} {setup.workers:>7} {rate:>8.3f} {100 * rate / limit:>7.1f}% "
        f"{rejected:>4}  median {median:.0f} ms, p95 {p95:.0f} ms, max {delays[-1]:.0f} ms",
        flush=True,
    )


if __name__ == "__main__":
    main()
