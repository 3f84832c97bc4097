"""Ingrid assets against the sandbox over HTTP, read back through the DuckDB catalog."""

from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pytest

from assets.ingrid import INGRID_ASSETS, INGRID_CHECKS
from sandbox.ingrid_data import expected_records
from tests.warehouse_reader import query as read
from warehouse.lake_table import session

BY_NAME = {a.key.path[-1]: a for a in INGRID_ASSETS}
SPRING = (
    date(2026, 3, 26),
    date(2026, 3, 30),
)  # gas day 2026-03-28 has 23 hours (clocks go forward on the 29th)
AUTUMN = (
    date(2025, 10, 23),
    date(2025, 10, 27),
)  # gas day 2025-10-25 has 25 hours (clocks go back on the 26th)
# Ranges in the past: closed, settled gas days whatever the date the suite runs.
pytestmark = pytest.mark.xdist_group("ingrid")


def _assets(*names: str) -> list[dg.AssetsDefinition]:
    return [BY_NAME[n] for n in names]


def _sql(home: Path, query: str) -> list[tuple]:
    return read(home, query)


def test_hourly_and_daily_measures_match_the_truth_with_23_and_25_hour_days(
    ingrid_upstream, home: Path
) -> None:
    upstream = ingrid_upstream()
    assets = _assets("hourly_measures", "daily_measures")
    for first, last in (SPRING, AUTUMN):
        assert upstream.materialize_range(assets, first, last).success

    hours = dict(
        _sql(
            home,
            "SELECT gas_day, count(*) / count(DISTINCT point_code) FROM ingrid.hourly_measures "
            "GROUP BY gas_day",
        )
    )
    assert hours[date(2026, 3, 28)] == 23 and hours[date(2025, 10, 25)] == 25
    assert {h for d, h in hours.items() if d not in (date(2026, 3, 28), date(2025, 10, 25))} == {24}
    # On the 25-hour day two hours start at 02:00 local time: told apart by their UTC start.
    (locals_,) = _sql(
        home,
        "SELECT count(*) FROM ingrid.hourly_measures WHERE gas_day = DATE '2025-10-25' "
        "AND hour(start_local) = 2 AND point_code = (SELECT min(point_code) "
        "FROM ingrid.hourly_measures)",
    )
    assert locals_ == (2,)
    # Daily measures are the sum of the hourly ones, and equal the sandbox's truth.
    mismatched = _sql(
        home,
        "SELECT d.gas_day, d.point_code FROM ingrid.daily_measures d JOIN "
        "(SELECT gas_day, point_code, sum(quantity) AS q FROM ingrid.hourly_measures "
        "GROUP BY ALL) h USING (gas_day, point_code) WHERE d.quantity <> h.q",
    )
    assert mismatched == []
    truth = expected_records("daily_measures", *SPRING, as_of=date.today())
    landed = _sql(
        home,
        f"SELECT gas_day, point_code, quantity, unit FROM ingrid.daily_measures "
        f"WHERE gas_day BETWEEN DATE '{SPRING[0]}' AND DATE '{SPRING[1]}' ORDER BY 1, 2",
    )
    assert landed == sorted(
        (date.fromisoformat(r["gasDay"]), r["pointCode"], r["quantity"], r["unit"]) for r in truth
    )


def test_cross_resource_consistency_is_visible_through_duckdb(ingrid_upstream, home: Path) -> None:
    upstream = ingrid_upstream()
    days = (date(2026, 1, 5), date(2026, 2, 20))  # a cold spell: exceedings happen
    dated = _assets(
        "daily_measures",
        "daily_allocations",
        "daily_contractual_forecasts",
        "daily_imbalances",
        "daily_exceeding",
    )
    assert upstream.materialize_range(dated, *days).success
    assert dg.materialize(
        _assets("downstream_allocated_capacities"), resources=upstream.resources()
    ).success

    (far,) = _sql(
        home,
        "SELECT count(*) FROM ingrid.daily_allocations a JOIN ingrid.daily_measures m "
        "USING (gas_day, point_code) WHERE abs(a.allocated_quantity - m.quantity) "
        "> 0.02 * m.quantity",
    )
    assert far == (0,)
    (wrong_imbalance,) = _sql(
        home,
        "WITH a AS (SELECT gas_day, sum(allocated_quantity) AS q FROM ingrid.daily_allocations "
        "GROUP BY 1), f AS (SELECT gas_day, sum(forecast_quantity) AS q FROM "
        "ingrid.daily_contractual_forecasts GROUP BY 1) "
        "SELECT count(*) FROM ingrid.daily_imbalances i JOIN a USING (gas_day) JOIN f "
        "USING (gas_day) WHERE abs(i.imbalance_quantity - (a.q - f.q)) > 1 "
        "OR i.allocated_quantity <> a.q OR i.forecast_quantity <> f.q",
    )
    assert wrong_imbalance == (0,)
    # An exceeding exactly where an allocation is above the point's daily capacity.
    exceeding = _sql(
        home,
        "SELECT gas_day, point_code FROM ingrid.daily_exceeding ORDER BY ALL",
    )
    above = _sql(
        home,
        "SELECT a.gas_day, a.point_code FROM ingrid.daily_allocations a "
        "JOIN ingrid.downstream_allocated_capacities c USING (point_code) "
        "WHERE a.allocated_quantity > c.daily_capacity ORDER BY ALL",
    )
    assert exceeding == above and len(above) > 0
    (units,) = _sql(home, "SELECT list(DISTINCT unit ORDER BY unit) FROM ingrid.daily_imbalances")
    assert units == (["kWh"],)


def test_a_rerun_the_same_day_asks_nothing_and_duplicates_nothing(
    ingrid_upstream, home: Path
) -> None:
    upstream = ingrid_upstream()
    assets = _assets("hourly_allocations")
    assert upstream.materialize_range(assets, *SPRING).success
    calls_first = len(upstream.calls())
    result = upstream.materialize_range(assets, *SPRING)
    assert result.success
    assert len(upstream.calls()) == calls_first  # answered today: not asked again
    (dupes,) = _sql(
        home,
        "SELECT count(*) - count(DISTINCT (point_code, start_date_time)) "
        "FROM ingrid.hourly_allocations",
    )
    (rows,) = _sql(home, "SELECT count(*) FROM ingrid.hourly_allocations")
    assert dupes == (0,) and rows[0] == 6 * (4 * 24 + 23)


def test_a_long_range_costs_one_call_per_31_days_and_page(ingrid_upstream) -> None:
    upstream = ingrid_upstream()
    first, last = date(2025, 1, 1), date(2025, 12, 31)
    assert upstream.materialize_range(_assets("daily_measures"), first, last).success
    # 365 days x 6 points = 2,190 rows: 12 ranges of at most 31 days, 2 pages of 1,000 at
    # most per 186 rows... one page each.
    assert len(upstream.calls()) == 12


def test_a_foreign_contract_fails_clearly_and_lands_nothing(ingrid_upstream, home: Path) -> None:
    upstream = ingrid_upstream()
    resources = upstream.resources(contract_code="GRT-SHP-9999")
    result = upstream.materialize_range(
        _assets("daily_measures"), *SPRING, resources=resources, raise_on_error=False
    )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = failure.event_specific_data.error.message
    assert "GRT-SHP-9999" in message and "INGRID_CONTRACT_CODE" in message
    assert "403" in message
    assert not (home / "warehouse" / "ingrid" / "daily_measures").exists()


def test_the_basic_auth_token_is_cached_then_renewed_when_it_expires(ingrid_upstream) -> None:
    upstream = ingrid_upstream(token_ttl_seconds=1)
    tokens = upstream.sandbox.tokens
    # Five hourly pages at 2 calls/s take over 2 s: the 1-second token is renewed.
    resources = upstream.resources(calls_per_second=2.0)
    assert upstream.materialize_range(
        _assets("hourly_measures"), date(2025, 1, 1), date(2025, 1, 31), resources=resources
    ).success
    assert tokens.issued >= 2
    statuses = [c.status for c in upstream.calls()]
    # A token that dies between its check and the call's arrival is renewed on the 401.
    assert statuses.count(200) == 5 and set(statuses) <= {200, 401}


def test_the_checks_pass_on_dst_days_landed_from_the_sandbox(ingrid_upstream) -> None:
    upstream = ingrid_upstream()
    names = ("hourly_measures", "daily_allocations")
    checks = [c for c in INGRID_CHECKS if any(k.asset_key.path[-1] in names for k in c.check_keys)]
    result = upstream.materialize_range([*_assets(*names), *checks], *AUTUMN)
    assert result.success
    evaluations = result.get_asset_check_evaluations()
    assert {e.check_name for e in evaluations} >= {
        "no_duplicate_keys",
        "hourly_series_complete",
        "energy_not_negative",
    }
    assert all(e.passed for e in evaluations), [e.description for e in evaluations if not e.passed]


def test_reparse_rebuilds_a_table_from_the_raw_zone_without_a_call(
    ingrid_upstream, home: Path
) -> None:
    from pipelines.operations import reparse_ingrid
    from resources.warehouse import WarehouseResource

    upstream = ingrid_upstream()
    assert upstream.materialize_range(_assets("hourly_measures"), *AUTUMN).success
    calls = len(upstream.calls())
    before = _sql(home, "SELECT count(*), sum(quantity) FROM ingrid.hourly_measures")
    warehouse = WarehouseResource(home=str(home))
    lake = warehouse.lake()
    lake.write(session(lake), lambda con: con.execute("DELETE FROM ingrid.hourly_measures"))
    assert _sql(home, "SELECT count(*) FROM ingrid.hourly_measures") == [(0,)]
    result = reparse_ingrid(warehouse, "hourly_measures").result
    assert result.rows == before[0][0]
    assert _sql(home, "SELECT count(*), sum(quantity) FROM ingrid.hourly_measures") == before
    assert len(upstream.calls()) == calls


def test_a_backfill_beyond_the_daily_budget_continues_the_next_day_without_re_asking(
    ingrid_upstream, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import assets.ingrid
    import resources.quota as quota

    upstream = ingrid_upstream()
    resources = upstream.resources(calls_per_day=5)
    first, last = date(2025, 1, 1), date(2025, 12, 31)  # 12 ranges: two days of budget
    day_one = upstream.materialize_range(
        _assets("daily_measures"), first, last, resources=resources, raise_on_error=False
    )
    assert not day_one.success and len(upstream.calls()) == 5
    tomorrow = assets.ingrid.paris_today() + timedelta(days=1)
    real_clock = quota.clock
    monkeypatch.setattr(quota, "clock", lambda: real_clock() + 86_400)
    monkeypatch.setattr(assets.ingrid, "paris_today", lambda: tomorrow)
    resources = upstream.resources(calls_per_day=10)
    assert upstream.materialize_range(
        _assets("daily_measures"), first, last, resources=resources
    ).success
    asked = [(c.query["startGasDay"], c.query["page"]) for c in upstream.calls()]
    assert len(asked) == 12 and len(set(asked)) == 12  # the 7 missing ranges, none again
    (rows,) = _sql(home, "SELECT count(*) FROM ingrid.daily_measures")
    assert rows == (365 * 6,)


def test_exceedings_are_sparse_and_checked_without_a_completeness_rule(ingrid_upstream) -> None:
    """Exceedings exist only in the hours allocation passed capacity: an hourly series
    with gaps is their nature, not a missing answer (it held the table back before)."""
    upstream = ingrid_upstream()
    checks = [
        c
        for c in INGRID_CHECKS
        if any(k.asset_key.path[-1] == "hourly_exceeding" for k in c.check_keys)
    ]
    result = upstream.materialize_range([*_assets("hourly_exceeding"), *checks], *AUTUMN)
    assert result.success
    evaluations = result.get_asset_check_evaluations()
    assert "hourly_series_complete" not in {e.check_name for e in evaluations}
    assert all(e.passed for e in evaluations), [e.description for e in evaluations if not e.passed]
