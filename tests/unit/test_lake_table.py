"""A table's landings: replace what was re-fetched, never duplicate, all or nothing."""

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from tests.warehouse_reader import query
from warehouse.columns import Kind, col
from warehouse.lake import Lake
from warehouse.lake_table import LakeTable
from warehouse.store import TableSpec

SPEC = TableSpec(
    "demo",
    "daily",
    (col("id_pce"), col("journee_gaziere", kind=Kind.DATE), col("energie", kind=Kind.DOUBLE)),
    partition_key="month",
    key=("id_pce", "journee_gaziere"),
    day_sql="old.journee_gaziere",
)


def rows(pce: str, days: range, energy: float) -> list[dict]:
    return [{"id_pce": pce, "journee_gaziere": f"2026-10-{d:02d}", "energie": energy} for d in days]


def land(store: LakeTable, pce: str, days: range, energy: float) -> None:
    table = SPEC.to_arrow(rows(pce, days, energy), datetime.now(UTC))
    with store.landing(lambda a, b: ["2026-10"]) as landing:
        landing.add(table, ["2026-10"] * table.num_rows)
        landing.replace(pce, date(2026, 10, days.start), date(2026, 10, days.stop - 1))


def read(store: LakeTable) -> list[tuple]:
    sql = f"SELECT id_pce, journee_gaziere::VARCHAR, energie FROM {store.name} ORDER BY ALL"
    return query(Path(store.lake.data_path).parent, sql)


def table_in(home: Path) -> LakeTable:
    return LakeTable(Lake.at(home), SPEC)


def test_a_rerun_replaces_rows_without_duplicating_them(tmp_path: Path) -> None:
    store = table_in(tmp_path)
    land(store, "A", range(1, 11), 1.0)
    land(store, "B", range(1, 11), 2.0)
    land(store, "A", range(5, 8), 9.0)  # a restatement of three days of A
    result = read(store)
    assert len(result) == 20
    assert [e for p, d, e in result if p == "A"] == [1.0] * 4 + [9.0] * 3 + [1.0] * 3
    assert {e for p, _, e in result if p == "B"} == {2.0}


def test_a_refetched_window_with_no_rows_removes_the_old_ones(tmp_path: Path) -> None:
    store = table_in(tmp_path)
    land(store, "A", range(1, 11), 1.0)
    land(store, "A", range(1, 4), 1.0)
    table = SPEC.to_arrow([], datetime.now(UTC))
    with store.landing(lambda a, b: ["2026-10"]) as landing:
        landing.add(table, [])
        landing.replace("A", date(2026, 10, 5), date(2026, 10, 6))
    assert [d for _, d, _ in read(store)] == [f"2026-10-{d:02d}" for d in (1, 2, 3, 4, 7, 8, 9, 10)]


def test_a_failed_run_leaves_the_partition_untouched(tmp_path: Path) -> None:
    store = table_in(tmp_path)
    land(store, "A", range(1, 11), 1.0)
    before = read(store)
    with pytest.raises(RuntimeError), store.landing(lambda a, b: ["2026-10"]) as landing:
        landing.add(
            SPEC.to_arrow(rows("A", range(1, 11), 5.0), datetime.now(UTC)), ["2026-10"] * 10
        )
        raise RuntimeError("killed mid-run")
    assert read(store) == before


def test_the_table_types_columns_and_its_partition_key(tmp_path: Path) -> None:
    land(table_in(tmp_path), "A", range(1, 3), 1.0)
    types = dict(query(tmp_path, "SELECT column_name, column_type FROM (DESCRIBE demo.daily)"))
    assert types == {
        "id_pce": "VARCHAR",
        "journee_gaziere": "DATE",
        "energie": "DOUBLE",
        "fetched_at": "TIMESTAMP WITH TIME ZONE",
        "month": "VARCHAR",
    }


def test_a_landing_that_changes_nothing_makes_no_snapshot(tmp_path: Path) -> None:
    store = table_in(tmp_path)
    land(store, "A", range(1, 3), 1.0)
    snapshots = query(tmp_path, "SELECT count(*) FROM lake.snapshots()")
    with store.landing(lambda a, b: ["2026-10"]):
        pass
    assert query(tmp_path, "SELECT count(*) FROM lake.snapshots()") == snapshots


def test_snapshot_partitions_and_newest_rows(tmp_path: Path) -> None:
    spec = TableSpec("demo", "rights", (col("id_pce"),), "snapshot_date", ("id_pce",))
    store = LakeTable(Lake.at(tmp_path), spec)
    for day, pces in (("2026-10-01", ["A", "B"]), ("2026-10-02", ["A"])):
        with store.landing(lambda a, b, day=day: [day]) as landing:
            landing.replace_partition(day)
            table = spec.to_arrow([{"id_pce": p} for p in pces], datetime.now(UTC))
            landing.add(table, [day] * len(pces))
    assert store.partitions() == ["2026-10-01", "2026-10-02"]
    assert [r["id_pce"] for r in store.newest_snapshot()] == ["A"]
    assert str(store.newest_snapshot()[0]["snapshot_date"]) == "2026-10-02"
