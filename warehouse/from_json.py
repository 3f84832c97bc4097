"""A table spec's columns read by DuckDB straight from stored NDJSON answers.

The same conversions as `columns.flatten` (the Python path), written in SQL so that
`read_json` over the raw zone's zstd files feeds a landing without a row ever reaching
Python: every leaf is read as text, as upstream wrote it, then typed here:
- "" is "no value", for every kind;
- a DATE may hold a datetime: its first ten characters;
- a TIMESTAMP with an offset is that instant; without one it is GRDF's local time, Paris;
- a LOCAL_TIMESTAMP is the wall-clock time as written, or an instant's Paris time;
- GRDF's "Vrai"/"Faux", any case and spacing, are booleans.

A strict read (`strict=True`) lets `read_json` type the DOUBLE and BOOL leaves itself:
a JSON number, boolean or numeric text gives the same value, 40 % faster (no number is
written out as text and parsed back), but a "" or any other text there fails the read
with a "JSON transform error". The caller then reads the lenient way: `land` takes both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb

from warehouse.columns import TRUE_WORDS, Column, Kind
from warehouse.lake import sql_string

_OFFSET = r"(Z|[+-]\d\d(:?\d\d)?)$"  # an ISO 8601 time zone designator ends the text
_PARIS = "'Europe/Paris'"


# What a strict read asks `read_json` for; every other leaf is read as text. INT stays
# text: read_json would round 3.5 to 4 where the Python path refuses it.
STRICT_TYPES: dict[Kind, str] = {Kind.DOUBLE: "DOUBLE", Kind.BOOL: "BOOLEAN"}


def json_columns(columns: Sequence[Column], strict: bool = False) -> str:
    """The `columns` argument of `read_json`: the nested paths the columns read, as text
    (strict: the DOUBLE and BOOL leaves as such, see module doc)."""
    tree: dict[str, Any] = {}
    for column in columns:
        node = tree
        for part in column.path[:-1]:
            node = node.setdefault(part, {})
        node[column.path[-1]] = _leaf_type(column.kind, strict)

    def struct(node: dict[str, Any]) -> str:
        return ", ".join(
            f"{sql_string(k)}: " + (f"'{v}'" if isinstance(v, str) else f"'STRUCT({_types(v)})'")
            for k, v in node.items()
        )

    def _types(node: dict[str, Any]) -> str:
        return ", ".join(
            f"{_identifier(k)} " + (v if isinstance(v, str) else f"STRUCT({_types(v)})")
            for k, v in node.items()
        )

    return "{" + struct(tree) + "}"


def select_list(columns: Sequence[Column], strict: bool = False) -> str:
    """The typed columns, from a `read_json(…, columns = json_columns(…, strict))`
    relation."""
    return ", ".join(
        f"{_path(c) if _leaf_type(c.kind, strict) != 'VARCHAR' else typed(_path(c), c.kind)} "
        f"AS {_identifier(c.name)}"
        for c in columns
    )


def is_strict_refusal(error: duckdb.Error) -> bool:
    """Whether a strict read failed on a value only the lenient read types."""
    return isinstance(error, duckdb.InvalidInputException) and "JSON transform error" in str(error)


def _leaf_type(kind: Kind, strict: bool) -> str:
    return STRICT_TYPES.get(kind, "VARCHAR") if strict else "VARCHAR"


def typed(text: str, kind: Kind) -> str:
    """The SQL turning the text expression `text` into a value of `kind`."""
    value = f"nullif({text}, '')"
    if kind is Kind.STRING:
        return value
    if kind is Kind.DOUBLE:
        return f"CAST({value} AS DOUBLE)"
    if kind is Kind.INT:
        return f"CAST({value} AS BIGINT)"
    if kind is Kind.BOOL:
        return f"CAST({value} AS BOOLEAN)"
    if kind is Kind.VRAI_FAUX:
        words = ", ".join(sql_string(w) for w in sorted(TRUE_WORDS))
        return f"(lower(trim({value})) IN ({words}))"
    if kind is Kind.DATE:
        return f"CAST(left({value}, 10) AS DATE)"
    with_offset = f"regexp_matches({value}, '{_OFFSET}')"
    if kind is Kind.TIMESTAMP:
        return (
            f"CASE WHEN {with_offset} THEN CAST({value} AS TIMESTAMPTZ) "
            f"ELSE timezone({_PARIS}, CAST({value} AS TIMESTAMP)) END"
        )
    if kind is Kind.LOCAL_TIMESTAMP:
        return (
            f"CASE WHEN {with_offset} THEN timezone({_PARIS}, CAST({value} AS TIMESTAMPTZ)) "
            f"ELSE CAST({value} AS TIMESTAMP) END"
        )
    raise ValueError(f"no SQL conversion for {kind}")


def _path(column: Column) -> str:
    return ".".join(_identifier(part) for part in column.path)


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
