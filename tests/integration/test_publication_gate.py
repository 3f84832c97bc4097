"""A partition failing a blocking check stays out of the catalog BI tools read."""

from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import duckdb

import assets.ingrid  # noqa: F401  (registers the Ingrid tables' check rules)
from assets.checks import Scope, publish
from pipelines.partitions import month_key
from warehouse.build import months_between
from warehouse.ingrid import TABLES
from warehouse.resource import WarehouseResource

SPEC = TABLES["daily_measures"]
DAY1, DAY2 = date(2026, 10, 1), date(2026, 10, 2)


def _land(warehouse: WarehouseResource, day: date, quantity: float) -> Scope:
    record = {"gasDay": day.isoformat(), "pointCode": "P1", "quantity": quantity, "unit": "kWh"}
    table = SPEC.to_arrow([record], datetime.now(UTC))
    with warehouse.store(SPEC).landing(months_between) as landing:
        landing.add(table, [month_key(day)])
        landing.replace(None, day, day)
    return Scope((month_key(day),), day, day)


def _catalog_quantities(home: Path) -> list[float]:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        rows = con.sql("SELECT quantity FROM ingrid.daily_measures ORDER BY gas_day").fetchall()
    return [q for (q,) in rows]


def test_a_negative_energy_is_not_published_until_a_good_answer_replaces_it(home: Path) -> None:
    warehouse = WarehouseResource(home=str(home))
    context = dg.build_asset_context()
    assert publish(context, warehouse, SPEC, _land(warehouse, DAY1, 100.0))
    assert _catalog_quantities(home) == [100.0]

    assert not publish(context, warehouse, SPEC, _land(warehouse, DAY2, -5.0))
    assert _catalog_quantities(home) == [100.0]  # BI still sees the last checked data
    # Another table's refresh does not carry the held table's bad partition to BI.
    other = TABLES["daily_allocations"]
    record = {"gasDay": DAY1.isoformat(), "pointCode": "P1", "allocatedQuantity": 99.0}
    with warehouse.store(other).landing(months_between) as landing:
        landing.add(other.to_arrow([record], datetime.now(UTC)), [month_key(DAY1)])
    assert publish(context, warehouse, other, Scope((month_key(DAY1),), DAY1, DAY1))
    assert _catalog_quantities(home) == [100.0]

    assert publish(context, warehouse, SPEC, _land(warehouse, DAY2, 7.0))
    assert _catalog_quantities(home) == [100.0, 7.0]
