"""`make run`: the main ADICT job against the embedded sandbox, then what landed.

The sandbox runs at the production quota (1 call/s, 6,000 a day), so the demo shows
the real pace: every call below waits for its slot in the shared ledger.
"""

from __future__ import annotations

import logging
import os
import shutil
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from pipelines.partitions import month_key, paris_today
from pipelines.settings import adict_ledger, gazoduc_home

log = logging.getLogger(__name__)

SANDBOX_CLIENT_ID = "gazoduc-sandbox"
SANDBOX_CLIENT_SECRET = "sandbox-secret"  # the sandbox's own, public test credential
REPO_ROOT = Path(__file__).resolve().parent.parent
QUIET = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}

EXAMPLE_QUERY = """
SELECT journee_gaziere, count(*) AS pce, round(sum(energie)) AS energie_kwh,
       count(*) FILTER (WHERE statut_conso = 'Provisoire') AS provisoires
FROM adict.informative_consumption
GROUP BY journee_gaziere ORDER BY journee_gaziere
"""


def dagster_home() -> Path:
    """A persistent Dagster instance under GAZODUC_HOME: demo runs show up in `make dev`."""
    home = Path(os.environ.get("DAGSTER_HOME") or gazoduc_home() / "dagster")
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def run_demo(portfolio: int, days: int) -> int:
    from sandbox.adict_app import AdictSandboxConfig, build_adict_app
    from sandbox.server import SandboxServer

    config = AdictSandboxConfig(
        portfolio_size=portfolio, clients={SANDBOX_CLIENT_ID: SANDBOX_CLIENT_SECRET}
    )
    with SandboxServer(build_adict_app(config)) as server:
        os.environ.update(
            ADICT_BASE_URL=f"{server.base_url}/adict/v2",
            ADICT_TOKEN_URL=f"{server.base_url}/oauth2/token",
            ADICT_CLIENT_ID=SANDBOX_CLIENT_ID,
            ADICT_CLIENT_SECRET=SANDBOX_CLIENT_SECRET,
        )
        print(f"ADICT sandbox on {server.base_url}: {portfolio} PCEs, 1 call/s, 6,000 calls/day")
        calls_before = adict_ledger().used_today()
        _materialize_all(days)
    _print_summary(calls_before)
    return 0


def _materialize_all(days: int) -> None:
    from pipelines.definitions import defs  # after the environment points at the sandbox

    dagster_home()
    instance = dg.DagsterInstance.get()
    today = paris_today()
    last_day = today - timedelta(days=1)
    first_day = last_day - timedelta(days=days - 1)
    last_month = month_key(today.replace(day=1) - timedelta(days=1))
    steps: list[tuple[str, str, dict[str, Any]]] = [
        ("access_rights", "snapshot", {}),
        (
            "informative_consumption",
            f"gas days {first_day}..{last_day}",
            _range(first_day, last_day),
        ),
        ("published_consumption", f"month {last_month}", {"partition_key": f"{last_month}-01"}),
        ("contractual_data", "snapshot", {}),
        ("technical_data", "snapshot", {}),
    ]
    for name, label, partitions in steps:
        print(f"-> adict/{name}: {label}")
        asset = defs.get_assets_def(dg.AssetKey(["adict", name]))
        dg.materialize(
            [asset], resources=defs.resources, instance=instance, run_config=QUIET, **partitions
        )


def _range(first: date, last: date) -> dict[str, Any]:
    """A partition range run (what a UI backfill with a single-run policy launches)."""
    return {
        "tags": {
            "dagster/asset_partition_range_start": first.isoformat(),
            "dagster/asset_partition_range_end": last.isoformat(),
        }
    }


def _print_summary(calls_before: int) -> None:
    ledger = adict_ledger()
    catalog = gazoduc_home() / "warehouse.duckdb"
    print(f"\nWarehouse: {catalog}")
    with duckdb.connect(str(catalog), read_only=True) as con:
        views = con.execute(
            "SELECT schema_name, view_name FROM duckdb_views() WHERE NOT internal ORDER BY 1, 2"
        ).fetchall()
        for schema, view in views:
            (rows,) = con.execute(f"SELECT count(*) FROM {schema}.{view}").fetchall()[0]
            print(f"  {schema}.{view:<28} {rows:>8,} rows")
        used = ledger.used_today()
        print(
            f"\nADICT calls: {used - calls_before:,} spent by this run; today {used:,} used, "
            f"{ledger.remaining_today():,} left of {ledger.limits.calls_per_day:,}"
        )
        print(f"\nExample query:{EXAMPLE_QUERY}")
        print(con.sql(EXAMPLE_QUERY))
