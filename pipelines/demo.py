"""`make run`: the main jobs against the embedded sandboxes, then what landed.

The sandboxes run at the production quota (ADICT: 1 call/s, 6,000 a day; Ingrid and
SFM: our polite 1 call/s), so the demo shows the real pace: every call below waits
for its slot in the shared ledger.
"""

from __future__ import annotations

import logging
import os
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from pipelines.partitions import month_key, paris_today
from pipelines.settings import api_ledger, gazoduc_home
from resources.quota import QuotaLedger

log = logging.getLogger(__name__)

SANDBOX_CLIENT_ID = "gazoduc-sandbox"
SANDBOX_CLIENT_SECRET = "sandbox-secret"  # the sandbox's own, public test credential
REPO_ROOT = Path(__file__).resolve().parent.parent
QUIET = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}

SANDBOX_CONTRACT = "GRT-SHP-0001"
SFM_SANDBOX_SCOPE = "api://sfm-sandbox/.default"
EXAMPLE_QUERIES = (
    """
SELECT journee_gaziere, count(*) AS pce, round(sum(energie)) AS energie_kwh,
       count(*) FILTER (WHERE statut_conso = 'Provisoire') AS provisoires
FROM adict.informative_consumption
GROUP BY journee_gaziere ORDER BY journee_gaziere
""",
    """
SELECT gas_day, count(DISTINCT point_code) AS points, count(*) // count(DISTINCT point_code)
       AS hours, round(sum(quantity)) AS measured_kwh, any_value(unit) AS unit
FROM ingrid.hourly_measures
GROUP BY gas_day ORDER BY gas_day
""",
    """
SELECT hms_site_id, gas_day, count(DISTINCT hms_profile_id) AS programs,
       count(DISTINCT hms_profile_id) FILTER (WHERE feasibility_status = 'ACCEPTED') AS accepted
FROM sfm.hms_profiles
GROUP BY ALL ORDER BY ALL
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
    from sandbox.sfm_app import build_sfm_app
    from sandbox.sfm_data import SfmSandboxConfig

    credentials = {SANDBOX_CLIENT_ID: SANDBOX_CLIENT_SECRET}
    adict_config = AdictSandboxConfig(portfolio_size=portfolio, clients=credentials)
    ingrid_config = IngridSandboxConfig(
        clients=credentials, contracts={SANDBOX_CLIENT_ID: (SANDBOX_CONTRACT,)}
    )
    issuer, cert_file, key_file = _sfm_issuer()
    with (
        SandboxServer(build_adict_app(adict_config)) as adict,
        SandboxServer(build_ingrid_app(ingrid_config)) as ingrid,
        SandboxServer(build_sfm_app(SfmSandboxConfig(), issuer)) as sfm,
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
            SFM_BASE_URL=f"{sfm.base_url}/sfm/v1",
            SFM_TOKEN_URL=f"{sfm.base_url}/oauth2/v2.0/token",
            SFM_CLIENT_ID=SANDBOX_CLIENT_ID,
            SFM_SCOPE=SFM_SANDBOX_SCOPE,
            SFM_CERT_FILE=str(cert_file),
            SFM_KEY_FILE=str(key_file),
        )
        print(f"ADICT sandbox on {adict.base_url}: {portfolio} PCEs, 1 call/s, 6,000 calls/day")
        print(f"Ingrid sandbox on {ingrid.base_url}: contract {SANDBOX_CONTRACT}, 1 call/s")
        print(f"SFM sandbox on {sfm.base_url}: certificate-signed auth, 1 call/s")
        before = {api: ledger.used_today() for api, ledger in _ledgers().items()}
        _materialize_all(days)
    _print_summary(before)
    return 0


def _sfm_issuer() -> tuple[Any, Path, Path]:
    """A certificate for the sandbox client (as sent to GRTgaz) and the issuer knowing it."""
    from sandbox.certificates import valid_for
    from sandbox.sfm_auth import AssertionTokenIssuer

    pair = valid_for(365, common_name=SANDBOX_CLIENT_ID)
    cert_file, key_file = pair.write(gazoduc_home() / "state", "sfm-sandbox")
    issuer = AssertionTokenIssuer({SANDBOX_CLIENT_ID: pair.certificate}, SFM_SANDBOX_SCOPE)
    return issuer, cert_file, key_file


def _ledgers() -> dict[str, QuotaLedger]:
    return {
        name: api_ledger(api)
        for name, api in (("ADICT", "adict"), ("Ingrid", "ingrid"), ("SFM", "sfm"))
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
    _materialize_sfm(defs, instance)


def _materialize_sfm(defs: dg.Definitions, instance: dg.DagsterInstance) -> None:
    from pipelines.partitions import gas_day_of

    now_day = gas_day_of(datetime.now(UTC))
    print(f"-> sfm/flexibility_indicators: a capture of gas day {now_day}")
    indicators = defs.get_assets_def(dg.AssetKey(["sfm", "flexibility_indicators"]))
    dg.materialize(
        [indicators],
        resources=defs.resources,
        instance=instance,
        run_config=QUIET,
        partition_key=now_day.isoformat(),
    )
    first, last = now_day - timedelta(days=1), now_day + timedelta(days=1)
    print(f"-> sfm/hms_profiles, sfm/rebuilt_hms_profiles: gas days {first}..{last}")
    programs = [
        defs.get_assets_def(dg.AssetKey(["sfm", name]))
        for name in ("hms_profiles", "rebuilt_hms_profiles")
    ]
    dg.materialize(
        programs,
        resources=defs.resources,
        instance=instance,
        run_config=QUIET,
        **_range(first, last),
    )


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
            print(f"  {schema + '.' + view:<42} {rows:>8,} rows")
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
