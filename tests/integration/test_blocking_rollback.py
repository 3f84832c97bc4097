"""A landing that fails a blocking rule is rolled back whole: BI never sees it."""

from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import pytest

import assets.ingrid  # noqa: F401  (registers the Ingrid tables' check rules)
from assets.checks import Scope, blocking_rules, landed_or_failure
from pipelines.partitions import month_key
from resources.ingrid_endpoints import TABLES
from resources.warehouse import WarehouseResource
from tests.warehouse_reader import query
from warehouse.build import months_between
from warehouse.lake import BlockingRuleFailed

SPEC = TABLES["daily_measures"]
DAY1, DAY2 = date(2026, 10, 1), date(2026, 10, 2)


def _land(warehouse: WarehouseResource, day: date, quantities: dict[str, float]) -> None:
    """One answer for `day`: a row per point, replacing the day's rows."""
    records = [
        {"gasDay": day.isoformat(), "pointCode": point, "quantity": q, "unit": "kWh"}
        for point, q in quantities.items()
    ]
    scope = Scope((month_key(day),), day, day)
    table = warehouse.table(SPEC, blocking_rules(warehouse, SPEC, scope))
    with table.landing(months_between) as landing:
        landing.add(SPEC.to_arrow(records, datetime.now(UTC)), [month_key(day)] * len(records))
        landing.replace(None, day, day)


def _rows(home: Path) -> list[tuple]:
    return query(
        home, "SELECT gas_day, point_code, quantity FROM ingrid.daily_measures ORDER BY ALL"
    )


def test_a_negative_quantity_rolls_the_whole_landing_back(home: Path) -> None:
    warehouse = WarehouseResource(home=str(home))
    _land(warehouse, DAY1, {"P1": 100.0})
    _land(warehouse, DAY2, {"P1": 5.0, "P2": 6.0})
    before = _rows(home)
    ((snapshot_before,),) = query(home, "SELECT id FROM lake.current_snapshot()")

    # A re-fetch of day 2 where one point is negative: neither point's new value lands,
    # and the old rows of the day it would have replaced are still there.
    with pytest.raises(BlockingRuleFailed, match="energy_not_negative"):
        _land(warehouse, DAY2, {"P1": 7.0, "P2": -5.0})
    assert _rows(home) == before
    assert query(home, "SELECT id FROM lake.current_snapshot()") == [(snapshot_before,)]

    _land(warehouse, DAY2, {"P1": 7.0, "P2": 8.0})  # a good answer lands as usual
    assert _rows(home) == [(DAY1, "P1", 100.0), (DAY2, "P1", 7.0), (DAY2, "P2", 8.0)]


def test_the_run_fails_saying_nothing_was_committed_and_what_a_re_run_does(home: Path) -> None:
    warehouse = WarehouseResource(home=str(home))
    with pytest.raises(dg.Failure) as failure:
        landed_or_failure(lambda: _land(warehouse, DAY1, {"P1": -1.0}))
    message = str(failure.value)
    assert "ingrid.daily_measures" in message and "energy_not_negative" in message
    assert "Nothing of this landing was committed" in message
    assert "0 calls" in message
    assert _rows(home) == []
