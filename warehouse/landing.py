"""A table spec as a DuckLake table, and a landing as one DuckLake transaction.

The table has the spec's columns, typed as the Parquet files have them today, plus
`fetched_at` and the partition column (`month` 'YYYY-MM', `snapshot_date` DATE or
`snapshot_month` 'YYYY-MM'), which DuckLake partitions by (hive folders, as today); each
file is sorted by the table's key, so one PCE's rows are read from few row groups.

`land` replaces, in one transaction, what a run re-fetched:
1. the old rows of each re-fetched scope (PCE, site; or every row) on the days re-fetched,
   unless a newer answer landed them meanwhile (another run, a later fetch);
2. the partitions a snapshot replaces whole;
3. per key, the newest row wins between what is left and the incoming rows.
Then the blocking rules run on the transaction's own state; one that raises rolls the
whole landing back: readers never see a landing that failed its rules, nor half of one.

The replacement rule itself (`store._match_old`) is the Parquet store's, shared until the
assets land here and that store is deleted.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

import duckdb
import pyarrow as pa

from warehouse.columns import Kind
from warehouse.from_json import is_strict_refusal
from warehouse.lake import ALIAS, Lake, table_exists
from warehouse.store import FETCHED_AT, Replacement, TableSpec, _match_old, _replacements_table

DUCKDB_TYPES: dict[Kind, str] = {
    Kind.STRING: "VARCHAR",
    Kind.DOUBLE: "DOUBLE",
    Kind.INT: "BIGINT",
    Kind.BOOL: "BOOLEAN",
    Kind.VRAI_FAUX: "BOOLEAN",
    Kind.DATE: "DATE",
    Kind.TIMESTAMP: "TIMESTAMP WITH TIME ZONE",
    Kind.LOCAL_TIMESTAMP: "TIMESTAMP",
}
PARTITION_TYPES: dict[str, str] = {
    "month": "VARCHAR",
    "snapshot_month": "VARCHAR",
    "snapshot_date": "DATE",
}
INCOMING, REPLACED = "landing_incoming", "landing_replaced"  # temp tables of one landing


def table_name(spec: TableSpec) -> str:
    return f"{ALIAS}.{spec.schema}.{spec.name}"


def create_table(con: duckdb.DuckDBPyConnection, spec: TableSpec) -> None:
    """Create the spec's table if it does not exist yet (inside a `Lake.write`).

    Every column is declared, personal ones included: without the operator's opt-in they
    stay NULL, so a BI query never breaks on a column that comes and goes."""
    if table_exists(con, f"{spec.schema}.{spec.name}"):
        return
    columns = [*spec.columns, FETCHED_AT]
    declared = ", ".join(f'"{c.name}" {DUCKDB_TYPES[c.kind]}' for c in columns)
    partition = f'"{spec.partition_key}" {PARTITION_TYPES[spec.partition_key]}'
    name = table_name(spec)
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {ALIAS}.{spec.schema}")
    con.execute(f"CREATE TABLE {name} ({declared}, {partition})")
    con.execute(f'ALTER TABLE {name} SET PARTITIONED BY ("{spec.partition_key}")')
    con.execute(f"ALTER TABLE {name} SET SORTED BY ({_keys(spec)})")


@dataclass(frozen=True)
class Landed:
    rows_deleted: int
    rows_inserted: int
    partitions: frozenset[str] = frozenset()  # those rows were deleted from or inserted in


def land(
    lake: Lake,
    con: duckdb.DuckDBPyConnection,
    spec: TableSpec,
    incoming: pa.Table | duckdb.DuckDBPyRelation,
    replaced: Sequence[Replacement] = (),
    replaced_in: Collection[str] = (),
    dropped: Collection[str] = (),
    rules: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
    lenient: duckdb.DuckDBPyRelation | None = None,
) -> Landed:
    """Land `incoming` (the spec's columns, `fetched_at` and the partition column) in one
    transaction (see module doc).

    `replaced`: the scopes and days re-fetched, whose old rows go, in the partitions
    `replaced_in` (the months of their days; a snapshot's own partition: a PCE's new
    document replaces its row in this month's snapshot, not in last month's);
    `dropped`: partitions a snapshot replaces whole; `rules(con)` raises to roll back.
    `lenient`: the same rows read the lenient way, read instead when `incoming`, a strict
    `from_json` read, refuses a value (see `from_json`).
    """
    _stage_incoming(con, incoming, lenient)
    return land_staged(lake, con, spec, replaced, replaced_in, dropped, rules)


def land_staged(
    lake: Lake,
    con: duckdb.DuckDBPyConnection,
    spec: TableSpec,
    replaced: Sequence[Replacement] = (),
    replaced_in: Collection[str] = (),
    dropped: Collection[str] = (),
    rules: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
) -> Landed:
    """`land`, for rows a caller staged itself in the temp table `INCOMING` of `con`
    (typed as the table): no copy of them."""
    _stage(con, spec, replaced)
    touched, oldest = _incoming_partitions(con, spec)
    try:
        return lake.write(
            con,
            lambda c: _replace(
                c, spec, sorted(replaced_in), touched, oldest, sorted(dropped), rules
            ),
            message=f"landing {spec.schema}.{spec.name}",
        )
    finally:
        con.execute(f"DROP TABLE IF EXISTS {INCOMING}; DROP TABLE IF EXISTS {REPLACED}")


def _stage_incoming(
    con: duckdb.DuckDBPyConnection,
    incoming: pa.Table | duckdb.DuckDBPyRelation,
    lenient: duckdb.DuckDBPyRelation | None,
) -> None:
    try:
        _materialize(con, INCOMING, incoming)
    except duckdb.Error as error:
        if lenient is None or not is_strict_refusal(error):
            raise
        _materialize(con, INCOMING, lenient)


def _stage(
    con: duckdb.DuckDBPyConnection, spec: TableSpec, replaced: Sequence[Replacement]
) -> None:
    """The landing's inputs as temp tables, built before the transaction: a DuckDB
    transaction writes to one database only, and these live in `temp`."""
    _materialize(con, REPLACED, _replacements_table(list(replaced)))
    if _has_duplicate_keys(con, spec):
        # One row per key among the incoming rows: the newest answer's.
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {INCOMING} AS FROM {INCOMING} "
            f"QUALIFY row_number() OVER (PARTITION BY {_keys(spec)} "
            "ORDER BY fetched_at DESC) = 1"
        )


def _materialize(
    con: duckdb.DuckDBPyConnection, name: str, rows: pa.Table | duckdb.DuckDBPyRelation
) -> None:
    con.register("landing_source", rows)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM landing_source")
    finally:
        con.unregister("landing_source")


def _has_duplicate_keys(con: duckdb.DuckDBPyConnection, spec: TableSpec) -> bool:
    """Whether two incoming rows share a key: a hash aggregate costs a seventh of the
    window that keeps the newest, and an answer rarely repeats a key."""
    found = con.execute(
        f"SELECT count(*) FROM (SELECT 1 FROM {INCOMING} GROUP BY {_keys(spec)} "
        "HAVING count(*) > 1 LIMIT 1)"
    ).fetchone()
    return found != (0,)


def _incoming_partitions(
    con: duckdb.DuckDBPyConnection, spec: TableSpec
) -> tuple[list[str], datetime | None]:
    """The partitions the incoming rows go to, and their oldest fetch time: filters
    DuckLake prunes files by (their min/max statistics)."""
    partitions, oldest = con.execute(
        f'SELECT list(DISTINCT CAST("{spec.partition_key}" AS VARCHAR)), min(fetched_at) '
        f"FROM {INCOMING}"
    ).fetchone() or (None, None)
    return sorted(p for p in partitions or [] if p is not None), oldest


def _replace(
    con: duckdb.DuckDBPyConnection,
    spec: TableSpec,
    replaced_in: list[str],
    touched: list[str],
    oldest: datetime | None,
    dropped: list[str],
    rules: Callable[[duckdb.DuckDBPyConnection], None] | None,
) -> Landed:
    name, partition = table_name(spec), f'old."{spec.partition_key}"'
    in_partitions = _in_values(partition, spec)
    deleted = _count_of(
        con.execute(
            f"DELETE FROM {name} AS old WHERE {in_partitions} AND "
            f"EXISTS (SELECT 1 FROM {REPLACED} AS r WHERE {_match_old(spec)})",
            [replaced_in],
        )
    )
    if dropped:
        deleted += _count_of(
            con.execute(f"DELETE FROM {name} AS old WHERE {in_partitions}", [dropped])
        )
    # One row per key within a partition, as before: a snapshot keeps each month's rows.
    same_key = " AND ".join(
        f'n."{k}" IS NOT DISTINCT FROM old."{k}"' for k in (*spec.key, spec.partition_key)
    )
    deleted += _count_of(
        con.execute(
            f"DELETE FROM {name} AS old WHERE {in_partitions} AND "
            f"EXISTS (SELECT 1 FROM {INCOMING} AS n WHERE {same_key} "
            "AND old.fetched_at <= n.fetched_at)",
            [touched],
        )
    )
    # The same-key rows left are newer than the incoming row: none is older than the
    # oldest incoming row, so files whose fetch times all are (most) are never read, and
    # without such rows (most landings) no anti-join is needed: it costs a third.
    newer = f"{in_partitions} AND (old.fetched_at > ?::TIMESTAMPTZ OR old.fetched_at IS NULL)"
    insert = f"INSERT INTO {name} BY NAME SELECT * FROM {INCOMING} AS n"
    if con.execute(
        f"SELECT 1 FROM {name} AS old WHERE {newer} LIMIT 1", [touched, oldest]
    ).fetchone():
        insert += f" WHERE NOT EXISTS (SELECT 1 FROM {name} AS old WHERE {newer} AND {same_key})"
        inserted = _count_of(con.execute(insert, [touched, oldest]))
    else:
        inserted = _count_of(con.execute(insert))
    if rules is not None:
        rules(con)
    return Landed(deleted, inserted, frozenset([*replaced_in, *touched, *dropped]))


def _in_values(column: str, spec: TableSpec) -> str:
    """`column` among the partition values bound as the statement's list parameter."""
    cast = PARTITION_TYPES[spec.partition_key]
    return f"{column} IN (SELECT CAST(unnest(?::VARCHAR[]) AS {cast}))"


def _keys(spec: TableSpec) -> str:
    return ", ".join(f'"{k}"' for k in spec.key)


def _count_of(cursor: duckdb.DuckDBPyConnection) -> int:
    """The row count a DELETE or INSERT returns."""
    (rows,) = cursor.fetchone() or (0,)
    return int(rows)
