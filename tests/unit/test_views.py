"""Curated views: the file convention, skipping, and the Ingrid and SFM views over rows
landed with those tables' own specs."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest
from warehouse.catalog import refresh_catalog

from warehouse.ingrid import TABLES as INGRID
from warehouse.sfm import FLEXIBILITY_INDICATORS as INDICATORS
from warehouse.store import PartitionStore, TableSpec
from warehouse.views import buildable, curated_views, parse_view

T0 = datetime(2026, 10, 1, 12, tzinfo=UTC)


MEASURES, ALLOCATIONS = INGRID["daily_measures"], INGRID["daily_allocations"]
FORECASTS, IMBALANCES = INGRID["daily_contractual_forecasts"], INGRID["daily_imbalances"]


def land(home: Path, spec: TableSpec, rows: list[dict], month: str = "2026-09") -> None:
    # Rows are written with column names; the specs read upstream names (`gasDay`).
    records = [{c.path[0]: row.get(c.name) for c in spec.columns} for row in rows]
    table = spec.to_arrow(records, T0)
    with PartitionStore(home / "warehouse", spec).landing(lambda a, b: [month]) as landing:
        landing.add(table, [month] * len(rows))


def query(home: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_every_shipped_view_names_its_sources() -> None:
    views = {v.name: v for v in curated_views()}
    assert set(views) == {
        "adict.daily_consumption",
        "adict.monthly_consumption",
        "ingrid.daily_balance",
        "sfm.indicator_timeline",
    }
    assert views["adict.monthly_consumption"].sources == {"adict.daily_consumption"}


def test_a_view_without_a_sources_line_is_refused() -> None:
    with pytest.raises(ValueError, match="sources"):
        parse_view("x.y", "SELECT 1")


def test_views_are_built_dependencies_first_and_skipped_without_sources() -> None:
    views = [
        parse_view("s.top", "-- sources: s.middle\nSELECT * FROM s.middle"),
        parse_view("s.middle", "-- sources: s.base\nSELECT * FROM s.base"),
        parse_view("s.other", "-- sources: s.base, s.missing\nSELECT 1"),
    ]
    assert [v.name for v in buildable(views, {"s.base"})] == ["s.middle", "s.top"]
    assert buildable(views, set()) == []


def test_the_daily_balance_puts_each_gas_day_side_by_side(tmp_path: Path) -> None:
    d1, d2 = date(2026, 9, 1), date(2026, 9, 2)
    land(tmp_path, MEASURES, [
        {"gas_day": d1, "point_code": "P1", "quantity": 100.0, "unit": "kWh", "status": "V"},
        {"gas_day": d1, "point_code": "P2", "quantity": 50.0, "unit": "kWh", "status": "V"},
        {"gas_day": d2, "point_code": "P1", "quantity": 70.0, "unit": "kWh", "status": "P"},
    ])  # fmt: skip
    land(tmp_path, ALLOCATIONS, [
        {"gas_day": d1, "point_code": "P1", "allocated_quantity": 98.0, "unit": "kWh", "status": "D"},
        {"gas_day": d1, "point_code": "P2", "allocated_quantity": 52.0, "unit": "kWh", "status": "P"},
    ])  # fmt: skip
    land(tmp_path, FORECASTS, [
        {"gas_day": d1, "point_code": "P1", "forecast_quantity": 140.0, "unit": "kWh",
         "forecast_date_time": T0},
    ])  # fmt: skip
    land(tmp_path, IMBALANCES, [
        {"gas_day": d1, "balancing_zone": "TRF", "allocated_quantity": 150.0,
         "forecast_quantity": 140.0, "imbalance_quantity": 10.0, "tolerance_quantity": 5.0,
         "unit": "kWh", "status": "D"},
    ])  # fmt: skip
    views = refresh_catalog(tmp_path, [MEASURES, ALLOCATIONS, FORECASTS, IMBALANCES])
    assert "ingrid.daily_balance" in views

    sql = (
        "SELECT gas_day::VARCHAR, measured_quantity, allocated_quantity, forecast_quantity, "
        "allocated_minus_forecast, imbalance_quantity, outside_tolerance, allocation_statuses "
        "FROM ingrid.daily_balance ORDER BY gas_day"
    )
    assert query(tmp_path, sql) == [
        ("2026-09-01", 150.0, 150.0, 140.0, 10.0, 10.0, True, "D, P"),
        ("2026-09-02", 70.0, None, None, None, None, None, None),
    ]


def test_the_indicator_timeline_keeps_changes_with_their_intervals(tmp_path: Path) -> None:
    def capture(hour: int, plus: str, side: str = "current", applies: int | None = None) -> dict:
        """A capture at hour:52 UTC; Q -> Q+ applies at hour+1:15 unless told."""
        at = datetime(2026, 9, 1, hour, 52, tzinfo=UTC)
        applied = datetime(2026, 9, 1, applies if applies is not None else hour + 1, 15, tzinfo=UTC)
        return {
            "captured_at": at, "gas_day": date(2026, 9, 1), "indicator": side,
            "site_id": "LI1234", "site_label": "Site", "mesh_code": "ME0008",
            "mesh_label": "Provence", "q_to_0_status": "GREEN",
            "q_to_0_availability_date_time": datetime(2026, 9, 1, 2, 52, tzinfo=UTC),
            "q_to_0_application_date_time": datetime(2026, 9, 1, 3, 15, tzinfo=UTC),
            "q_to_qmax_status": plus, "q_to_qmax_availability_date_time": at,
            "q_to_qmax_application_date_time": applied,
        }  # fmt: skip

    rows = [capture(2, "GREEN"), capture(7, "GREEN"), capture(8, "RED"), capture(9, "GREEN")]
    # An announced next state superseded by a later capture for the same application time.
    rows += [capture(8, "RED", "next", applies=10)]
    land(tmp_path, INDICATORS, rows)
    assert "sfm.indicator_timeline" in refresh_catalog(tmp_path, [INDICATORS])

    sql = (
        "SELECT indicator, status, previous_status, hour(valid_from), hour(valid_to), "
        "gas_day::VARCHAR FROM sfm.indicator_timeline ORDER BY indicator, valid_from"
    )
    # 03:15 UTC is 05:15 in Paris: still the previous gas day.
    assert query(tmp_path, sql) == [
        ("q_to_0", "GREEN", None, 3, None, "2026-08-31"),
        ("q_to_qmax", "GREEN", None, 3, 9, "2026-08-31"),
        ("q_to_qmax", "RED", "GREEN", 9, 10, "2026-09-01"),
        ("q_to_qmax", "GREEN", "RED", 10, None, "2026-09-01"),
    ]


def test_the_ingrid_view_waits_for_all_its_sources(tmp_path: Path) -> None:
    land(tmp_path, MEASURES, [{"gas_day": date(2026, 9, 1), "point_code": "P1", "quantity": 1.0}])
    assert refresh_catalog(tmp_path, [MEASURES, ALLOCATIONS]) == ["ingrid.daily_measures"]
