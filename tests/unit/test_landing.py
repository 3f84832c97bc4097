"""A landing is one DuckLake transaction: re-fetched scopes replaced, newer answers kept,
a failed rule rolls everything back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pytest

from warehouse.adict import ACCESS_RIGHTS, CONTRACTUAL_DATA, INFORMATIVE_CONSUMPTION
from warehouse.columns import schema_of
from warehouse.from_json import json_columns, select_list
from warehouse.lake import Lake
from warehouse.landing import Landed, create_table, land, table_name
from warehouse.store import FETCHED_AT, Replacement

SPEC = INFORMATIVE_CONSUMPTION
EARLY, LATE, LATER = (datetime(2026, 2, d, 8, tzinfo=UTC) for d in (1, 2, 3))


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake.at(tmp_path, "ducklake:sqlite:warehouse.sqlite")


@pytest.fixture
def con(lake: Lake) -> Iterator[duckdb.DuckDBPyConnection]:
    with lake.open() as con:
        for spec in (SPEC, ACCESS_RIGHTS, CONTRACTUAL_DATA):
            lake.write(con, lambda c, spec=spec: create_table(c, spec))
        yield con


def rows(pce_days: list[tuple[str, int]], energy: float, fetched_at: datetime) -> pa.Table:
    """Rows of PCEs on days of January 2026 (32 and on: February)."""
    days = [date(2026, 1, 1) + timedelta(days=d - 1) for _, d in pce_days]
    return pa.table(
        {
            "id_pce": [p for p, _ in pce_days],
            "journee_gaziere": pa.array(days, pa.date32()),
            "energie": [energy] * len(days),
            "fetched_at": pa.array([fetched_at] * len(days), pa.timestamp("us", tz="UTC")),
            "month": [f"{d:%Y-%m}" for d in days],
        }
    )


def refetched(pce: str, first: int, last: int, fetched_at: datetime) -> Replacement:
    start = date(2026, 1, 1)
    return Replacement(pce, start + timedelta(first - 1), start + timedelta(last - 1), fetched_at)


def land_days(
    lake: Lake,
    con: duckdb.DuckDBPyConnection,
    incoming: pa.Table | duckdb.DuckDBPyRelation,
    replaced: list[Replacement],
    **kw: Any,
) -> Landed:
    """A windowed landing: its replacements apply in the months of their days."""
    months = {f"{d:%Y-%m}" for r in replaced for d in (r.first_day, r.last_day)}
    return land(lake, con, SPEC, incoming, replaced, replaced_in=months, **kw)


def content(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return con.execute(
        f"SELECT id_pce, day(journee_gaziere), energie FROM {table_name(SPEC)} ORDER BY ALL"
    ).fetchall()


def test_the_table_has_the_columns_and_types_of_the_parquet_files_plus_its_partition(
    con: duckdb.DuckDBPyConnection,
) -> None:
    described = con.execute(f"DESCRIBE {table_name(SPEC)}").fetchall()
    parquet = con.from_arrow(schema_of([*SPEC.columns, FETCHED_AT]).empty_table())
    expected = [*zip(parquet.columns, map(str, parquet.types), strict=True), ("month", "VARCHAR")]
    assert [(name, kind) for name, kind, *_ in described] == expected


def test_a_landing_replaces_the_refetched_days_of_its_scopes_only(
    lake: Lake, con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    first = [("P1", 1), ("P1", 2), ("P1", 3), ("P2", 1), ("P2", 2), ("P2", 3)]
    land_days(lake, con, rows(first, 1.0, EARLY), [refetched("P1", 1, 3, EARLY)])
    # P1 re-fetched on days 2-3: day 2 restated, day 3 no longer served; P2 untouched.
    landed = land_days(lake, con, rows([("P1", 2)], 5.0, LATE), [refetched("P1", 2, 3, LATE)])

    assert content(con) == [
        ("P1", 1, 1.0),
        ("P1", 2, 5.0),
        ("P2", 1, 1.0),
        ("P2", 2, 1.0),
        ("P2", 3, 1.0),
    ]
    assert (landed.rows_deleted, landed.rows_inserted) == (2, 1)
    # Small landings stay inlined in the catalog; written out, they are in month folders.
    lake.write(con, lambda c: c.execute("FROM ducklake_flush_inlined_data('lake')"))
    month = tmp_path / "warehouse" / "adict" / "informative_consumption" / "month=2026-01"
    assert list(month.glob("*.parquet"))


def test_an_older_answer_never_replaces_rows_a_newer_one_landed(
    lake: Lake, con: duckdb.DuckDBPyConnection
) -> None:
    land_days(lake, con, rows([("P1", 1), ("P1", 2)], 9.0, LATER), [refetched("P1", 1, 2, LATER)])
    # A slower run, whose answer was fetched before, lands afterwards.
    land_days(lake, con, rows([("P1", 1), ("P1", 2)], 1.0, EARLY), [refetched("P1", 1, 2, EARLY)])
    assert content(con) == [("P1", 1, 9.0), ("P1", 2, 9.0)]


def test_a_failed_rule_rolls_the_whole_landing_back(
    lake: Lake, con: duckdb.DuckDBPyConnection
) -> None:
    land_days(lake, con, rows([("P1", 1), ("P2", 1)], 1.0, EARLY), [refetched("P1", 1, 1, EARLY)])
    (snapshot,) = con.execute("SELECT id FROM lake.current_snapshot()").fetchone()
    seen_inside = []

    def negative_energy_blocks(c: duckdb.DuckDBPyConnection) -> None:
        seen_inside.extend(c.execute(f"SELECT energie FROM {table_name(SPEC)}").fetchall())
        raise ValueError("energy_not_negative failed")

    with pytest.raises(ValueError, match="energy_not_negative"):
        land_days(
            lake,
            con,
            rows([("P1", 1)], -3.0, LATE),
            [refetched("P1", 1, 1, LATE), refetched("P2", 1, 1, LATE)],
            rules=negative_energy_blocks,
        )
    assert sorted(seen_inside) == [(-3.0,)]  # the rule saw the transaction's own state
    assert content(con) == [("P1", 1, 1.0), ("P2", 1, 1.0)]
    assert con.execute("SELECT id FROM lake.current_snapshot()").fetchone() == (snapshot,)


def test_a_snapshot_replaces_its_partition_whole_and_keeps_the_others(
    lake: Lake, con: duckdb.DuckDBPyConnection
) -> None:
    def snapshot(day: date, ids: list[str], fetched_at: datetime) -> pa.Table:
        return pa.table(
            {
                "id_droit_acces": ids,
                "fetched_at": pa.array([fetched_at] * len(ids), pa.timestamp("us", tz="UTC")),
                "snapshot_date": pa.array([day] * len(ids), pa.date32()),
            }
        )

    monday, tuesday = date(2026, 1, 5), date(2026, 1, 6)
    land(lake, con, ACCESS_RIGHTS, snapshot(monday, ["a", "b"], EARLY), dropped=["2026-01-05"])
    land(lake, con, ACCESS_RIGHTS, snapshot(tuesday, ["a", "b"], LATE), dropped=["2026-01-06"])
    land(lake, con, ACCESS_RIGHTS, snapshot(tuesday, ["c"], LATER), dropped=["2026-01-06"])
    assert con.execute(
        f"SELECT snapshot_date, id_droit_acces FROM {table_name(ACCESS_RIGHTS)} ORDER BY ALL"
    ).fetchall() == [(monday, "a"), (monday, "b"), (tuesday, "c")]


def test_a_refetched_window_empties_its_days_in_months_the_new_answer_does_not_reach(
    lake: Lake, con: duckdb.DuckDBPyConnection
) -> None:
    january_31, february_1 = 31, 32
    both = [("P1", january_31), ("P1", february_1)]
    land_days(lake, con, rows(both, 1.0, EARLY), [refetched("P1", january_31, february_1, EARLY)])
    # GRDF now serves January 31 only: the February row goes too.
    land_days(
        lake,
        con,
        rows([("P1", january_31)], 2.0, LATE),
        [refetched("P1", january_31, february_1, LATE)],
    )
    assert content(con) == [("P1", 31, 2.0)]


def test_a_document_replaces_its_row_in_this_snapshot_only(
    lake: Lake, con: duckdb.DuckDBPyConnection
) -> None:
    def documents(ids: list[str], month: str, fetched_at: datetime) -> pa.Table:
        return pa.table(
            {
                "id_pce": ids,
                "fetched_at": pa.array([fetched_at] * len(ids), pa.timestamp("us", tz="UTC")),
                "snapshot_month": [month] * len(ids),
            }
        )

    def whole(pce: str, fetched_at: datetime) -> Replacement:
        return Replacement(pce, date.min, date.max, fetched_at)

    january = [whole("P1", EARLY), whole("P2", EARLY)]
    land(
        lake, con, CONTRACTUAL_DATA, documents(["P1", "P2"], "2026-01", EARLY), january, ["2026-01"]
    )
    land(
        lake,
        con,
        CONTRACTUAL_DATA,
        documents(["P1"], "2026-02", LATE),
        [whole("P1", LATE)],
        ["2026-02"],
    )
    assert con.execute(
        f"SELECT snapshot_month, id_pce FROM {table_name(CONTRACTUAL_DATA)} ORDER BY ALL"
    ).fetchall() == [("2026-01", "P1"), ("2026-01", "P2"), ("2026-02", "P1")]


def test_of_two_incoming_rows_with_one_key_the_newest_answer_lands(
    lake: Lake, con: duckdb.DuckDBPyConnection
) -> None:
    older, newer = rows([("P1", 1), ("P1", 2)], 1.0, EARLY), rows([("P1", 1)], 7.0, LATE)
    landed = land_days(lake, con, pa.concat_tables([newer, older]), [refetched("P1", 1, 2, LATE)])
    assert content(con) == [("P1", 1, 7.0), ("P1", 2, 1.0)]
    assert landed.rows_inserted == 2


def test_a_strict_read_refusing_a_value_lands_the_lenient_read_instead(
    lake: Lake, con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    answer = tmp_path / "P1.ndjson.zst"
    blocks = [
        {"pce": {"id_pce": "P1"}, "consommation": {"journee_gaziere": "2026-01-01", "energie": 4}},
        {"pce": {"id_pce": "P1"}, "consommation": {"journee_gaziere": "2026-01-02", "energie": ""}},
    ]
    with pa.CompressedOutputStream(str(answer), "zstd") as out:
        out.write(b"\n".join(orjson.dumps(b) for b in blocks) + b"\n")

    def read(strict: bool) -> duckdb.DuckDBPyRelation:
        return con.sql(
            f"SELECT {select_list(SPEC.columns, strict)}, TIMESTAMPTZ '{EARLY}' AS fetched_at, "
            "strftime(journee_gaziere, '%Y-%m') AS month "
            f"FROM read_json('{answer}', format = 'newline_delimited', compression = 'zstd', "
            f"columns = {json_columns(SPEC.columns, strict)})"
        )

    with pytest.raises(duckdb.InvalidInputException):
        read(strict=True).fetchall()
    land_days(lake, con, read(strict=True), [refetched("P1", 1, 2, EARLY)], lenient=read(False))
    assert content(con) == [("P1", 1, 4.0), ("P1", 2, None)]
