"""`make run`: the main jobs against the embedded sandboxes, then what landed.

The sandboxes run at the production quota (ADICT: 1 call/s, 6,000 a day; Ingrid and
SFM: our polite 1 call/s), so the demo shows the real pace: every call below waits
for its slot in the shared ledger.
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
from pipelines.settings import adict_ledger, gazoduc_home, setting
from resources.quota import QuotaLedger, QuotaLimits, ledger_path

log = logging.getLogger(__name__)

SANDBOX_CLIENT_ID = "gazoduc-sandbox"
SANDBOX_CLIENT_SECRET = "sandbox-secret"  # the sandbox's own, public test credential
REPO_ROOT = Path(__file__).resolve().parent.parent
QUIET = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}

SANDBOX_CONTRACT = "GRT-SHP-0001"
EXAMPLE_QUERIES = (
    """
SELECT journee_gaziere, count(*) AS pce, round(sum(energie)) AS energie_kwh,
       count(*) FILTER (WHERE statut_conso = 'Provisoire') AS provisoires
FROM adict.informative_consumption
GROUP BY journee_gaziere ORDER BY journee_gaziere
""",
    """
SELECT gas_day, count(*) AS hours, round(sum(quantity)) AS measured_kwh, any_value(unit) AS unit
FROM ingrid.hourly_measures
GROUP BY gas_day ORDER BY gas_day
""",
)


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
    from sandbox.ingrid_app import IngridSandboxConfig, build_ingrid_app
    from sandbox.server import SandboxServer

    credentials = {SANDBOX_CLIENT_ID: SANDBOX_CLIENT_SECRET}
    adict_config = AdictSandboxConfig(portfolio_size=portfolio, clients=credentials)
    ingrid_config = IngridSandboxConfig(
        clients=credentials, contracts={SANDBOX_CLIENT_ID: (SANDBOX_CONTRACT,)}
    )
    with (
        SandboxServer(build_adict_app(adict_config)) as adict,
        SandboxServer(build_ingrid_app(ingrid_config)) as ingrid,
    ):
        os.environ.update(
            ADICT_BASE_URL=f"{adict.base_url}/adict/v2",
            ADICT_TOKEN_URL=f"{adict.base_url}/oauth2/token",
            ADICT_CLIENT_ID=SANDBOX_CLIENT_ID,
            ADICT_CLIENT_SECRET=SANDBOX_CLIENT_SECRET,
            INGRID_BASE_URL=ingrid.base_url,
            INGRID_TOKEN_URL=f"{ingrid.base_url}/oauth2/token",
            INGRID_CLIENT_ID=SANDBOX_CLIENT_ID,
            INGRID_CLIENT_SECRET=SANDBOX_CLIENT_SECRET,
            INGRID_CONTRACT_CODE=SANDBOX_CONTRACT,
        )
        print(f"ADICT sandbox on {adict.base_url}: {portfolio} PCEs, 1 call/s, 6,000 calls/day")
        print(f"Ingrid sandbox on {ingrid.base_url}: contract {SANDBOX_CONTRACT}, 1 call/s")
        before = {api: ledger.used_today() for api, ledger in _ledgers().items()}
        _materialize_all(days)
    _print_summary(before)
    return 0


def _ledgers() -> dict[str, QuotaLedger]:
    state = ledger_path(gazoduc_home() / "state")
    ingrid = QuotaLimits(
        float(setting("INGRID_CALLS_PER_SECOND")), int(setting("INGRID_CALLS_PER_DAY"))
    )
    return {
        "ADICT": adict_ledger(),
        "Ingrid": QuotaLedger(state, "ingrid", setting("INGRID_CLIENT_ID"), ingrid),
    }


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
    _materialize_ingrid(defs, instance, first_day, last_day)


def _materialize_ingrid(
    defs: dg.Definitions, instance: dg.DagsterInstance, first: date, last: date
) -> None:
    from resources.ingrid_endpoints import ENDPOINTS

    dated = [defs.get_assets_def(dg.AssetKey(["ingrid", e.name])) for e in ENDPOINTS if e.dated]
    reference = [
        defs.get_assets_def(dg.AssetKey(["ingrid", e.name])) for e in ENDPOINTS if not e.dated
    ]
    print(f"-> ingrid/*: {len(dated)} resources, gas days {first}..{last}")
    dg.materialize(
        dated, resources=defs.resources, instance=instance, run_config=QUIET, **_range(first, last)
    )
    print(f"-> ingrid/*: {len(reference)} reference lists (snapshot)")
    dg.materialize(reference, resources=defs.resources, instance=instance, run_config=QUIET)


def _range(first: date, last: date) -> dict[str, Any]:
    """A partition range run (what a UI backfill with a single-run policy launches)."""
    return {
        "tags": {
            "dagster/asset_partition_range_start": first.isoformat(),
            "dagster/asset_partition_range_end": last.isoformat(),
        }
    }


def _print_summary(before: dict[str, int]) -> None:
    catalog = gazoduc_home() / "warehouse.duckdb"
    print(f"\nWarehouse: {catalog}")
    with duckdb.connect(str(catalog), read_only=True) as con:
        views = con.execute(
            "SELECT schema_name, view_name FROM duckdb_views() WHERE NOT internal ORDER BY 1, 2"
        ).fetchall()
        for schema, view in views:
            (rows,) = con.execute(f"SELECT count(*) FROM {schema}.{view}").fetchall()[0]
            print(f"  {schema}.{view:<28} {rows:>8,} rows")
        print()
        for api, ledger in _ledgers().items():
            used = ledger.used_today()
            print(
                f"{api} calls: {used - before[api]:,} spent by this run; today {used:,} used, "
                f"{ledger.remaining_today():,} left of {ledger.limits.calls_per_day:,}"
            )
        for query in EXAMPLE_QUERIES:
            print(f"\nExample query:{query}")
            print(con.sql(query))
