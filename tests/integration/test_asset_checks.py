"""Asset checks: each fails on a crafted bad partition and passes on a good one."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import orjson
import pyarrow as pa

from assets.adict import ADICT_CHECKS, access_rights, informative_consumption, technical_data
from assets.checks import HourlySeries, gas_day_start, table_checks
from pipelines.partitions import gas_days, paris_today
from resources.adict import RawAnswer, outcome_from_answer
from resources.warehouse import WarehouseResource
from tests.conftest import Upstream
from warehouse.adict import INFORMATIVE_CONSUMPTION
from warehouse.columns import Kind, col
from warehouse.lake import ALIAS
from warehouse.lake_table import session
from warehouse.landing import table_name
from warehouse.store import TableSpec


def informative_checks() -> dg.AssetChecksDefinition:
    return next(
        c for c in ADICT_CHECKS if c.node_def.name == "adict__informative_consumption_checks"
    )


def results(run: dg.ExecuteInJobResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {
        e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data
        for e in run.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }


def failing(run: dg.ExecuteInJobResult) -> dict[str, dg.AssetCheckSeverity]:
    return {name: r.severity for name, r in results(run).items() if not r.passed}


def range_tags(first: date, last: date) -> dict[str, str]:
    return {
        "dagster/asset_partition_range_start": first.isoformat(),
        "dagster/asset_partition_range_end": last.isoformat(),
    }


def run_checks(
    asset: dg.AssetsDefinition,
    checks: dg.AssetChecksDefinition,
    resources: dict[str, Any],
    first: date,
    last: date,
) -> dg.ExecuteInJobResult:
    """The checks alone, for a partition range, as the UI runs them after a backfill."""
    return dg.materialize(
        [asset, checks],
        resources=resources,
        selection=dg.AssetSelection.checks_for_assets(asset),
        tags=range_tags(first, last),
        raise_on_error=False,
    )


def rewrite(upstream: Upstream, day: date, sql: str) -> int:
    """Replace the landed rows of `day`'s month by `sql` over them (the table `old`),
    behind the landing's back (bad data the checks must catch); return the snapshot
    before, to restore it with `restore`."""
    lake = upstream.warehouse().lake()
    con = session(lake)
    name, month = table_name(INFORMATIVE_CONSUMPTION), f"{day:%Y-%m}"
    ((before,),) = con.execute(f"SELECT id FROM {ALIAS}.current_snapshot()").fetchall()
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE old AS SELECT * FROM {name} WHERE month = ?", [month]
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE new AS {sql}")

    def swap(c: duckdb.DuckDBPyConnection) -> None:
        c.execute(f"DELETE FROM {name} WHERE month = ?", [month])
        c.execute(f"INSERT INTO {name} SELECT * FROM new")

    lake.write(con, swap)
    return int(before)


def restore(upstream: Upstream, day: date, snapshot: int) -> None:
    """The month's rows as they were at `snapshot` (DuckLake time travel)."""
    name = table_name(INFORMATIVE_CONSUMPTION)
    rewrite(
        upstream,
        day,
        f"SELECT * FROM {name} AT (VERSION => {snapshot}) WHERE month = '{day:%Y-%m}'",
    )


# --- ADICT, against the sandbox ----------------------------------------------------------


def land_informative(
    adict_upstream: Callable[..., Upstream], first: date, last: date
) -> tuple[Upstream, dg.ExecuteInJobResult]:
    upstream = adict_upstream(portfolio_size=16, calls_per_day=100_000)
    dg.materialize([access_rights], resources=upstream.resources())
    run = dg.materialize(
        [informative_consumption, informative_checks()],
        resources=upstream.resources(),
        tags=range_tags(first, last),
    )
    return upstream, run


def test_an_adict_run_passes_its_checks_and_shows_a_preview_and_a_plot(
    adict_upstream: Callable[..., Upstream],
) -> None:
    today = paris_today()
    first, last = today - timedelta(days=12), today - timedelta(days=6)
    _, run = land_informative(adict_upstream, first, last)
    assert run.success
    assert {n: r.passed for n, r in results(run).items()} == {
        "no_duplicate_keys": True,
        "energy_not_negative": True,
        "energy_plausible": True,
        "rows_or_reason": True,
        "definitive_not_restated": True,
    }
    reasons = results(run)["rows_or_reason"].metadata["reasons"].value
    assert reasons  # the moved-out holder's refusal, 6M and MM meters' "no data"
    metadata = run.asset_materializations_for_node("adict__informative_consumption")[0].metadata
    assert {"rows", "pces", "calls_spent", "calls_left_today", "preview", "daily_energy"} <= set(
        metadata
    )
    preview = metadata["preview"].value
    assert 0 < len(preview.records) <= 10
    assert "energie" in preview.records[0].data
    assert metadata["daily_energy"].value.startswith("![energy per gas day](data:image/png;base64,")


def test_duplicate_keys_block(adict_upstream: Callable[..., Upstream]) -> None:
    today = paris_today()
    good, bad = today - timedelta(days=9), today - timedelta(days=8)
    upstream, _ = land_informative(adict_upstream, good, bad)
    rewrite(
        upstream,
        bad,
        f"SELECT * FROM old UNION ALL (SELECT * FROM old WHERE journee_gaziere = DATE '{bad}' LIMIT 1)",
    )
    run = run_checks(informative_consumption, informative_checks(), upstream.resources(), bad, bad)
    assert not run.success  # a blocking check failed with ERROR
    assert failing(run) == {"no_duplicate_keys": dg.AssetCheckSeverity.ERROR}
    run = run_checks(
        informative_consumption, informative_checks(), upstream.resources(), good, good
    )
    assert run.success and failing(run) == {}  # the other day of the same file is fine


def test_negative_blocks_and_implausible_warns(adict_upstream: Callable[..., Upstream]) -> None:
    today = paris_today()
    day = today - timedelta(days=8)
    upstream, _ = land_informative(adict_upstream, day, day)
    dg.materialize([technical_data], resources=upstream.resources())  # meters' frequencies
    monthly = upstream.sandbox.portfolio.pces[1]  # a 1M meter: at most 30,000 kWh a day
    assert monthly.frequence == "1M"
    original = rewrite(
        upstream,
        day,
        f"SELECT * REPLACE (CASE WHEN id_pce = '{monthly.id_pce}' THEN 90000 ELSE energie END AS energie) FROM old",
    )
    run = run_checks(informative_consumption, informative_checks(), upstream.resources(), day, day)
    assert run.success  # a warning does not block
    assert failing(run) == {"energy_plausible": dg.AssetCheckSeverity.WARN}

    restore(upstream, day, original)
    rewrite(
        upstream,
        day,
        f"SELECT * REPLACE (CASE WHEN id_pce = '{monthly.id_pce}' THEN -3 ELSE energie END AS energie) FROM old",
    )
    run = run_checks(informative_consumption, informative_checks(), upstream.resources(), day, day)
    assert not run.success
    assert failing(run) == {"energy_not_negative": dg.AssetCheckSeverity.ERROR}


def test_an_eligible_pce_with_neither_rows_nor_reason_blocks(
    adict_upstream: Callable[..., Upstream],
) -> None:
    today = paris_today()
    day = today - timedelta(days=8)
    upstream, _ = land_informative(adict_upstream, day, day)
    meter = upstream.sandbox.portfolio.pces[0].id_pce
    rewrite(upstream, day, f"SELECT * FROM old WHERE id_pce <> '{meter}'")
    run = run_checks(informative_consumption, informative_checks(), upstream.resources(), day, day)
    assert not run.success  # its stored answer has a row for the day: the row was lost
    assert failing(run) == {"rows_or_reason": dg.AssetCheckSeverity.ERROR}
    with sqlite3.connect(upstream.home / "state" / "raw.sqlite") as con:
        con.execute("DELETE FROM answers WHERE scope = ?", (meter,))
    run = run_checks(informative_consumption, informative_checks(), upstream.resources(), day, day)
    assert not run.success  # never asked at all
    assert failing(run) == {"rows_or_reason": dg.AssetCheckSeverity.ERROR}
    assert results(run)["rows_or_reason"].metadata["unexplained_pces"].value == [meter]


def test_a_restated_definitive_value_warns(adict_upstream: Callable[..., Upstream]) -> None:
    today = paris_today()
    first, last = today - timedelta(days=75), today - timedelta(days=70)  # definitive
    upstream, run = land_informative(adict_upstream, first, last)
    assert failing(run) == {}
    raw = upstream.warehouse().raw_zone()
    meter = upstream.sandbox.portfolio.pces[0].id_pce
    (answer,) = raw.answers("adict", "informative_consumption", meter, first, last)
    lines = [orjson.loads(line) for line in raw.read(answer).splitlines() if line.strip()]
    assert lines[0]["consommation"]["statut_conso"] == "Définitive"
    lines[0]["consommation"]["energie"] += 100  # GRDF corrects a definitive day
    body = b"\n".join(orjson.dumps(line) for line in lines)
    stored = outcome_from_answer("informative_consumption", meter, RawAnswer(first, last, body))
    raw.put(
        "adict",
        "informative_consumption",
        meter,
        first,
        last,
        body,
        stored.answers[0].kind,
        len(stored.blocks),
    )
    run = run_checks(
        informative_consumption, informative_checks(), upstream.resources(), first, last
    )
    assert run.success  # a warning: the newer value is landed, the operator is told
    assert failing(run) == {"definitive_not_restated": dg.AssetCheckSeverity.WARN}
    assert results(run)["definitive_not_restated"].metadata["restated"].value == 1


# --- the generic factory on a crafted hourly table -----------------------------------------

HOURLY = TableSpec(
    "test",
    "hourly_measures",
    (
        col("site"),
        col("gas_day", kind=Kind.DATE),
        col("horodate", kind=Kind.TIMESTAMP),
        col("energy", kind=Kind.DOUBLE),
    ),
    partition_key="month",
    key=("site", "horodate"),
    day_sql="old.gas_day",
    scope_column="site",
)


@dg.asset(key=["test", "hourly_measures"], partitions_def=gas_days)
def hourly_measures() -> None:
    """Stands for an Ingrid table: the test lands its rows itself."""


HOURLY_CHECKS = table_checks(hourly_measures, HOURLY, hourly=HourlySeries("horodate"))


def land_hours(home: Path, day: date, hours: list[int]) -> None:
    start = gas_day_start(day)
    stamps = [start + timedelta(hours=h) for h in hours]
    table = pa.table(
        {
            "site": ["PIR-A"] * len(stamps),
            "gas_day": pa.array([day] * len(stamps), pa.date32()),
            "horodate": pa.array(stamps, pa.timestamp("us", tz="UTC")),
            "energy": [1.0] * len(stamps),
            "fetched_at": pa.array([datetime.now(UTC)] * len(stamps), pa.timestamp("us", tz="UTC")),
        }
    )
    with WarehouseResource(home=str(home)).table(HOURLY).landing(lambda *_: []) as landing:
        landing.add(table, [f"{day:%Y-%m}"] * table.num_rows)


def check_hours(home: Path, day: date) -> dict[str, dg.AssetCheckSeverity]:
    run = run_checks(
        hourly_measures, HOURLY_CHECKS, {"warehouse": WarehouseResource(home=str(home))}, day, day
    )
    return failing(run)


def test_hourly_series_follow_the_gas_day_length(home: Path) -> None:
    # Gas days start at 06:00: the one holding the 02:00-03:00 clock change is the day before.
    spring, autumn, plain = date(2025, 3, 29), date(2025, 10, 25), date(2025, 10, 26)
    land_hours(home, autumn, list(range(25)))
    land_hours(home, plain, list(range(24)))
    assert check_hours(home, autumn) == {}
    assert check_hours(home, plain) == {}
    land_hours(home, spring, [h for h in range(23) if h != 5])  # 22 of its 23 hours
    assert check_hours(home, spring) == {"hourly_series_complete": dg.AssetCheckSeverity.ERROR}


def test_a_spring_day_with_24_hours_fails(home: Path) -> None:
    spring = date(2025, 3, 29)
    land_hours(home, spring, list(range(24)))  # its 24th hour is the next gas day's first
    assert check_hours(home, spring) == {"hourly_series_complete": dg.AssetCheckSeverity.ERROR}
