"""`make run`: the main jobs against the embedded sandboxes, then what landed.

The sandboxes run at the production quota (ADICT: 1 call/s, 6,000 a day; Ingrid and
SFM: our polite 1 call/s), so the demo shows the real pace: every call below waits
for its slot in the shared ledger. The terminal gets one line per run (a bar redrawn in
place while it goes, on a TTY) and a summary; Dagster's whole log, debug events
included, goes to `$GAZODUC_HOME/logs/demo-<time>.log`.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from itertools import zip_longest
from pathlib import Path
from typing import Any

import duckdb

from pipelines.launch import Step, land, logging_to, new_log_path
from pipelines.partitions import month_key, paris_today
from resources.quota import QuotaLedger
from resources.settings import api_ledger, gazoduc_home
from resources.warehouse import lake_of
from warehouse.lake import ALIAS

SANDBOX_CLIENT_ID = "gazoduc-sandbox"
SANDBOX_CLIENT_SECRET = "sandbox-secret"  # the sandbox's own, public test credential

SANDBOX_CONTRACT = "GRT-SHP-0001"
SFM_SANDBOX_SCOPE = "api://sfm-sandbox/.default"
EXAMPLE_QUERIES = (
    """
SELECT journee_gaziere, count(*) AS pce, round(sum(energie)) AS energie_kwh,
       count(*) FILTER (WHERE NOT definitive) AS provisoires
FROM adict.daily_consumption
GROUP BY journee_gaziere ORDER BY journee_gaziere
""",
    """
SELECT gas_day, count(DISTINCT hms_site_id) AS sites, count(DISTINCT hms_profile_id) AS programs,
       count(DISTINCT hms_profile_id) FILTER (WHERE feasibility_status = 'ACCEPTED') AS accepted
FROM sfm.hms_profiles
GROUP BY gas_day ORDER BY gas_day
""",
)


def run_demo(portfolio: int, days: int) -> int:
    """Land the sandboxes' data; 0 if every step succeeded, 1 if one failed (see the log)."""
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
    log_path = new_log_path("demo")
    with (
        log_path.open("a", buffering=1) as log_file,
        logging_to(log_file),
        SandboxServer(build_adict_app(adict_config)) as adict,
        SandboxServer(build_ingrid_app(ingrid_config)) as ingrid,
        SandboxServer(build_sfm_app(SfmSandboxConfig(), issuer)) as sfm,
    ):
        _point_at_sandboxes(adict.base_url, ingrid.base_url, sfm.base_url, cert_file, key_file)
        print(f"ADICT sandbox on {adict.base_url}: {portfolio} PCEs, 1 call/s, 6,000 calls/day")
        print(f"Ingrid sandbox on {ingrid.base_url}: contract {SANDBOX_CONTRACT}, 1 call/s")
        print(f"SFM sandbox on {sfm.base_url}: certificate-signed auth, 1 call/s")
        print(f"Dagster's full log: {log_path}\n")
        before = {api: ledger.used_today() for api, ledger in _ledgers().items()}
        failed = land(_steps(days))
    _print_summary(before)
    return 1 if failed else 0


def _point_at_sandboxes(adict: str, ingrid: str, sfm: str, cert_file: Path, key_file: Path) -> None:
    os.environ.update(
        ADICT_BASE_URL=f"{adict}/adict/v2",
        ADICT_TOKEN_URL=f"{adict}/oauth2/token",
        ADICT_CLIENT_ID=SANDBOX_CLIENT_ID,
        ADICT_CLIENT_SECRET=SANDBOX_CLIENT_SECRET,
        INGRID_BASE_URL=ingrid,
        INGRID_TOKEN_URL=f"{ingrid}/oauth2/token",
        INGRID_CLIENT_ID=SANDBOX_CLIENT_ID,
        INGRID_CLIENT_SECRET=SANDBOX_CLIENT_SECRET,
        INGRID_CONTRACT_CODE=SANDBOX_CONTRACT,
        SFM_BASE_URL=f"{sfm}/sfm/v1",
        SFM_TOKEN_URL=f"{sfm}/oauth2/v2.0/token",
        SFM_CLIENT_ID=SANDBOX_CLIENT_ID,
        SFM_SCOPE=SFM_SANDBOX_SCOPE,
        SFM_CERT_FILE=str(cert_file),
        SFM_KEY_FILE=str(key_file),
    )


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


def _steps(days: int) -> list[Step]:
    from pipelines.partitions import gas_day_of
    from resources.ingrid_endpoints import ENDPOINTS

    today = paris_today()
    last_day = today - timedelta(days=1)
    first_day = last_day - timedelta(days=days - 1)
    last_month = month_key(today.replace(day=1) - timedelta(days=1))
    now_day = gas_day_of(datetime.now(UTC))
    dated = tuple(f"ingrid/{e.name}" for e in ENDPOINTS if e.dated)
    reference = tuple(f"ingrid/{e.name}" for e in ENDPOINTS if not e.dated)
    days_range = f"gas days {first_day}..{last_day}"
    return [
        Step("adict/access_rights (snapshot)", "adict", ("adict/access_rights",)),
        Step(
            f"adict/informative_consumption ({days_range})",
            "adict",
            ("adict/informative_consumption",),
            _range(first_day, last_day),
        ),
        Step(
            f"adict/published_consumption (month {last_month})",
            "adict",
            ("adict/published_consumption",),
            {"partition_key": f"{last_month}-01"},
        ),
        Step("adict/contractual_data (snapshot)", "adict", ("adict/contractual_data",)),
        Step("adict/technical_data (snapshot)", "adict", ("adict/technical_data",)),
        Step(
            f"ingrid/* ({len(dated)} resources, {days_range})",
            "ingrid",
            dated,
            _range(first_day, last_day),
        ),
        Step(f"ingrid/* ({len(reference)} reference lists, snapshot)", "ingrid", reference),
        Step(
            f"sfm/flexibility_indicators (a capture of gas day {now_day})",
            "sfm",
            ("sfm/flexibility_indicators",),
            {"partition_key": now_day.isoformat()},
        ),
        Step(
            f"sfm/hms_profiles, rebuilt_hms_profiles (gas days {now_day - timedelta(days=1)}.."
            f"{now_day + timedelta(days=1)})",
            "sfm",
            ("sfm/hms_profiles", "sfm/rebuilt_hms_profiles"),
            _range(now_day - timedelta(days=1), now_day + timedelta(days=1)),
        ),
        # What the automation sensor does under the daemon, after each landing.
        Step(
            "curated tables (the keys their sources changed)",
            None,
            ("adict/daily_consumption", "adict/monthly_consumption"),
        ),
        Step(
            "curated tables (Ingrid, SFM)", None, ("ingrid/daily_balance", "sfm/indicator_timeline")
        ),
    ]


def _range(first: date, last: date) -> dict[str, Any]:
    """A partition range run (what a UI backfill with a single-run policy launches)."""
    return {
        "tags": {
            "dagster/asset_partition_range_start": first.isoformat(),
            "dagster/asset_partition_range_end": last.isoformat(),
        }
    }


def _print_summary(before: dict[str, int]) -> None:
    lake = lake_of(gazoduc_home())
    with lake.open(read_only=True) as con:
        print(f"\nWarehouse {lake.sqlite_catalog or 'catalog'}: rows per table")
        for line in _two_columns(_rows_per_view(con)):
            print(f"  {line}")
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
        print('More in README.md, section "Querying the warehouse (BI)"; or: gazoduc sql')


def _rows_per_view(con: duckdb.DuckDBPyConnection) -> list[tuple[str, int]]:
    views = con.sql(
        "SELECT schema_name || '.' || table_name FROM duckdb_tables() "
        f"WHERE database_name = '{ALIAS}' AND schema_name <> 'gazoduc' ORDER BY 1"
    ).fetchall()
    return [(view, con.sql(f"SELECT count(*) FROM {view}").fetchall()[0][0]) for (view,) in views]


def _two_columns(counts: list[tuple[str, int]]) -> list[str]:
    """The views side by side, so the list fits on a screen with the rest."""
    width = max((len(view) for view, _ in counts), default=0)
    cells = [f"{view:<{width}} {rows:>7,}" for view, rows in counts]
    half = (len(cells) + 1) // 2
    return [
        f"{left}   {right}".rstrip()
        for left, right in zip_longest(cells[:half], cells[half:], fillvalue="")
    ]
