from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from warehouse.catalog import refresh_catalog
from warehouse.columns import Kind, col
from warehouse.store import PartitionStore, TableSpec

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


def land(store: PartitionStore, pce: str, days: range, energy: float) -> None:
    table = SPEC.to_arrow(rows(pce, days, energy), datetime.now(UTC))
    with store.landing(lambda a, b: ["2026-10"]) as landing:
        landing.add(table, ["2026-10"] * table.num_rows)
        landing.replace(pce, date(2026, 10, days.start), date(2026, 10, days.stop - 1))


def read(store: PartitionStore) -> list[tuple]:
    sql = "SELECT id_pce, journee_gaziere::VARCHAR, energie FROM read_parquet(?) ORDER BY ALL"
    return duckdb.execute(sql, [store.glob()]).fetchall()


def test_a_rerun_replaces_rows_without_duplicating_them(tmp_path: Path) -> None:
    store = PartitionStore(tmp_path, SPEC)
    land(store, "A", range(1, 11), 1.0)
    land(store, "B", range(1, 11), 2.0)
    land(store, "A", range(5, 8), 9.0)  # a restatement of three days of A
    result = read(store)
    assert len(result) == 20
    assert [e for p, d, e in result if p == "A"] == [1.0] * 4 + [9.0] * 3 + [1.0] * 3
    assert {e for p, _, e in result if p == "B"} == {2.0}


def test_a_refetched_window_with_no_rows_removes_the_old_ones(tmp_path: Path) -> None:
    store = PartitionStore(tmp_path, SPEC)
    land(store, "A", range(1, 11), 1.0)
    land(store, "A", range(1, 4), 1.0)
    table = SPEC.to_arrow([], datetime.now(UTC))
    with store.landing(lambda a, b: ["2026-10"]) as landing:
        landing.add(table, [])
        landing.replace("A", date(2026, 10, 5), date(2026, 10, 6))
    assert [d for _, d, _ in read(store)] == [f"2026-10-{d:02d}" for d in (1, 2, 3, 4, 7, 8, 9, 10)]


def test_a_failed_run_leaves_the_partition_untouched(tmp_path: Path) -> None:
    store = PartitionStore(tmp_path, SPEC)
    land(store, "A", range(1, 11), 1.0)
    before = store.file_for("2026-10").read_bytes()
    try:
        with store.landing(lambda a, b: ["2026-10"]) as landing:
            landing.add(
                SPEC.to_arrow(rows("A", range(1, 11), 5.0), datetime.now(UTC)), ["2026-10"] * 10
            )
            raise RuntimeError("killed mid-run")
    except RuntimeError:
        pass
    assert store.file_for("2026-10").read_bytes() == before
    assert not list((tmp_path / ".staging").glob("*/*"))


def test_the_catalog_types_columns_and_hive_keys(tmp_path: Path) -> None:
    store = PartitionStore(tmp_path / "warehouse", SPEC)
    land(store, "A", range(1, 3), 1.0)
    assert refresh_catalog(tmp_path, [SPEC]) == ["demo.daily"]
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        types = dict(
            con.execute("SELECT column_name, column_type FROM (DESCRIBE demo.daily)").fetchall()
        )
    assert types == {
        "id_pce": "VARCHAR",
        "journee_gaziere": "DATE",
        "energie": "DOUBLE",
        "fetched_at": "TIMESTAMP WITH TIME ZONE",
        "month": "VARCHAR",
    }


def test_timestamps_with_offsets_are_stored_in_utc() -> None:
    spec_columns = [col("t", kind=Kind.TIMESTAMP)]
    from warehouse.columns import flatten

    table = flatten(
        [{"t": "2026-03-29T06:00:00+02:00"}, {"t": "2026-03-28T06:00:00+01:00"}], spec_columns
    )
    assert table.column("t").to_pylist() == [
        datetime(2026, 3, 29, 4, tzinfo=UTC),
        datetime(2026, 3, 28, 5, tzinfo=UTC),
    ]
    assert table.schema.field("t").type == pa.timestamp("us", tz="UTC")
