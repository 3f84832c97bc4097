"""`read_json` typed in SQL gives exactly what the Python flattening gives."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pytest

from sandbox.adict_data import (
    DataType,
    Window,
    build_portfolio,
    contractual_data,
    stream_blocks,
    technical_data,
)
from warehouse.adict import (
    CONTRACTUAL_DATA,
    INFORMATIVE_CONSUMPTION,
    PUBLISHED_CONSUMPTION,
    PUBLISHED_INJECTION,
    TECHNICAL_DATA,
)
from warehouse.columns import Column, Kind, col, flatten
from warehouse.from_json import is_strict_refusal, json_columns, select_list
from warehouse.store import TableSpec

TODAY = date(2026, 11, 20)
PORTFOLIO = build_portfolio(seed=7, size=20, anchor=TODAY)


def read_with_sql(
    records: list[dict[str, Any]], columns: list[Column], tmp_path: Path, strict: bool = False
) -> pa.Table:
    path = tmp_path / "answer.ndjson.zst"
    with pa.CompressedOutputStream(str(path), "zstd") as out:  # as the raw zone stores it
        out.write(b"\n".join(orjson.dumps(r) for r in records) + b"\n")
    with duckdb.connect() as con:
        return con.sql(
            f"SELECT {select_list(columns, strict)} FROM read_json('{path}', "
            f"format = 'newline_delimited', compression = 'zstd', "
            f"columns = {json_columns(columns, strict)})"
        ).to_arrow_table()


def same(from_sql: pa.Table, from_python: pa.Table) -> bool:
    """Equal values and types; DuckDB names the UTC zone `Etc/UTC`, Arrow `UTC`."""
    return from_sql.cast(from_python.schema).equals(from_python)


def windowed(data_type: DataType) -> list[dict[str, Any]]:
    window = Window(TODAY - timedelta(days=400), TODAY - timedelta(days=1))
    return [
        block
        for pce in PORTFOLIO.pces[:12]
        for block in stream_blocks(PORTFOLIO, pce.id_pce, data_type, window, TODAY)
    ]


@pytest.mark.parametrize(
    ("spec", "records"),
    [
        (INFORMATIVE_CONSUMPTION, lambda: windowed(DataType.INFORMATIVE)),
        (PUBLISHED_CONSUMPTION, lambda: windowed(DataType.PUBLISHED)),
        (PUBLISHED_INJECTION, lambda: windowed(DataType.INJECTION)),
        (CONTRACTUAL_DATA, lambda: [contractual_data(p) for p in PORTFOLIO.pces]),
        (TECHNICAL_DATA, lambda: [technical_data(p) for p in PORTFOLIO.pces]),
    ],
    ids=lambda value: getattr(value, "name", ""),
)
@pytest.mark.parametrize("strict", [False, True], ids=["lenient", "strict"])
def test_sandbox_answers_read_in_sql_equal_the_python_flattening(
    spec: TableSpec, records: Any, strict: bool, tmp_path: Path
) -> None:
    blocks = records()
    columns = list(spec.columns)
    expected = flatten(blocks, columns)
    assert expected.num_rows > 10
    assert same(read_with_sql(blocks, columns, tmp_path, strict), expected)


@pytest.mark.parametrize("strict", [False, True], ids=["lenient", "strict"])
def test_upstream_oddities_are_typed_as_the_python_path_types_them(
    strict: bool, tmp_path: Path
) -> None:
    columns = [
        col("amount", "a.amount", Kind.DOUBLE),
        col("flag", "a.flag", Kind.VRAI_FAUX),
        col("day", "a.day", Kind.DATE),
        col("at", "a.at", Kind.TIMESTAMP),
        col("wall", "a.wall", Kind.LOCAL_TIMESTAMP),
        col("label", "a.label"),
    ]
    records = [
        {"a": {"amount": "12.5", "flag": " VRAI ", "day": "2026-03-29T00:00:00+01:00",
               "at": "2026-03-29T01:30:00Z", "wall": "2026-03-29T03:30:00+02:00", "label": ""}},
        {"a": {"amount": 3, "flag": "Faux", "day": "2026-10-25", "at": "2019-12-09 15:45:42",
               "wall": "2026-10-25T02:00:00", "label": "x"}},
        {"a": None},
        {},
    ]  # fmt: skip
    assert same(read_with_sql(records, columns, tmp_path, strict), flatten(records, columns))


@pytest.mark.parametrize("odd", ["", "n/a"])
def test_a_strict_read_refuses_text_in_a_number_and_the_lenient_read_types_it(
    odd: str, tmp_path: Path
) -> None:
    columns = [col("amount", "a.amount", Kind.DOUBLE), col("label", "a.label")]
    records = [{"a": {"amount": 1.5, "label": "x"}}, {"a": {"amount": odd, "label": "y"}}]
    with pytest.raises(duckdb.Error) as refused:
        read_with_sql(records, columns, tmp_path, strict=True)
    assert is_strict_refusal(refused.value)
    if odd:  # text that is no number fails the Python path and the lenient read alike
        with pytest.raises(duckdb.ConversionException):
            read_with_sql(records, columns, tmp_path)
    else:  # "" is "no value"
        assert same(read_with_sql(records, columns, tmp_path), flatten(records, columns))
