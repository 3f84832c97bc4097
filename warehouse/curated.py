"""Curated tables: the questions BI users ask, answered once in SQL and kept as DuckLake
tables, updated from what their sources changed.

Each table is one file `warehouse/curated/<schema>.<name>.sql`: a SELECT that computes the
rows of the keys in a temp table `changed_keys`, and a header naming
- `sources:` the tables it reads (landed tables, or other curated tables);
- `recomputed by:` its recompute key, columns of every source and of the result: the
  rows of a key depend only on the source rows of that key;
- `one row per:` its unique key, and optionally `each row:` a condition every row meets
  (the blocking rules);
- optionally `partitioned by:` and `sorted by:` (the layout BI queries prune by).

An update is one transaction (`Lake.write`). It reads the source snapshot the transaction
sees, takes the keys of every row the sources inserted or deleted since the snapshot the
table last read (DuckLake's change feed), deletes the table's rows of those keys and
inserts the SQL's rows for them, checks the blocking rules on those keys, and records the
snapshot read in `lake.gazoduc.curated_state`. All or nothing: a crash or a failed rule
leaves the table and its recorded snapshot as they were, so no change is lost or applied
twice. The first update (or one after the SQL's columns changed, or after the snapshots
it needs were expired) rebuilds the whole table. Source rows whose recompute key holds a
NULL are not curated: there is no PCE, day or site to show them by.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from typing import Literal

import duckdb

from warehouse.lake import ALIAS, BlockingRuleFailed, Lake, table_exists
from warehouse.lake_table import session

log = logging.getLogger(__name__)

HEADER = re.compile(r"^--\s*([a-z ]+):\s*(.+)$", re.MULTILINE)
CHANGED_KEYS = "changed_keys"  # the temp table each SQL file reads
STATE = f"{ALIAS}.gazoduc.curated_state"


@dataclass(frozen=True)
class CuratedTable:
    name: str  # schema.table, from the file name
    sql: str  # the SELECT, header comments included
    sources: tuple[str, ...]
    recomputed_by: tuple[str, ...]
    unique: tuple[str, ...]
    each_row: str | None = None  # a SQL condition every row meets
    partitioned_by: tuple[str, ...] = ()
    sorted_by: tuple[str, ...] = ()

    @property
    def schema(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def table(self) -> str:
        return self.name.split(".", 1)[1]

    @property
    def qualified(self) -> str:
        return f"{ALIAS}.{self.name}"

    def select(self) -> str:
        """The SELECT, for a subquery: comments kept, final semicolon dropped."""
        return self.sql.strip().rstrip(";")


@dataclass(frozen=True)
class UpdateResult:
    table: str
    # built: whole; updated: the changed keys; waiting: a source has not landed yet
    action: Literal["built", "updated", "unchanged", "waiting"]
    snapshot_read: int | None  # the source snapshot the table now reflects
    previous_snapshot: int | None
    keys_recomputed: int = 0
    rows_deleted: int = 0
    rows_inserted: int = 0

    @property
    def rows_changed(self) -> int:
        return self.rows_deleted + self.rows_inserted


def parse_table(name: str, sql: str) -> CuratedTable:
    headers = {key.strip(): value.strip() for key, value in HEADER.findall(sql)}
    missing = {"sources", "recomputed by", "one row per"} - set(headers)
    if missing:
        raise ValueError(f"{name}.sql has no {', '.join(sorted(missing))} line")

    def columns(key: str) -> tuple[str, ...]:
        return tuple(c.strip() for c in headers.get(key, "").split(",") if c.strip())

    return CuratedTable(
        name,
        sql,
        sources=columns("sources"),
        recomputed_by=columns("recomputed by"),
        unique=columns("one row per"),
        each_row=headers.get("each row"),
        partitioned_by=columns("partitioned by"),
        sorted_by=columns("sorted by"),
    )


def curated_tables() -> list[CuratedTable]:
    """Every curated table shipped in the package, a table after the ones it reads."""
    folder = resources.files("warehouse") / "curated"
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)
    tables = [parse_table(f.name.removesuffix(".sql"), f.read_text("utf-8")) for f in files]
    return _dependencies_first(tables)


def _dependencies_first(tables: list[CuratedTable]) -> list[CuratedTable]:
    names = {t.name for t in tables}
    ordered: list[CuratedTable] = []
    pending = list(tables)
    while pending:
        done = {t.name for t in ordered}
        ready = [t for t in pending if not (set(t.sources) & names) - done]
        if not ready:
            raise ValueError(f"curated tables read each other: {[t.name for t in pending]}")
        ordered += ready
        pending = [t for t in pending if t not in ready]
    return ordered


def update_curated(lake: Lake) -> dict[str, UpdateResult]:
    """Update every curated table, each in its own transaction, sources first."""
    con = session(lake)
    try:
        return {table.name: update_table(lake, con, table) for table in curated_tables()}
    finally:
        con.close()


def update_table(lake: Lake, con: duckdb.DuckDBPyConnection, table: CuratedTable) -> UpdateResult:
    """Bring `table` up to the current source snapshot (see module doc)."""
    try:
        result = lake.write(con, lambda c: _update(c, table), message=f"curated {table.name}")
    finally:
        con.execute(f"DROP TABLE IF EXISTS temp.{CHANGED_KEYS}")
    log.info(
        "%s %s: %d keys, %d rows changed, snapshot %s",
        table.name,
        result.action,
        result.keys_recomputed,
        result.rows_changed,
        result.snapshot_read,
    )
    return result


def _update(con: duckdb.DuckDBPyConnection, table: CuratedTable) -> UpdateResult:
    """The work of one update transaction; idempotent: it reads everything it needs."""
    snapshot = _scalar(con, f"SELECT id FROM {ALIAS}.current_snapshot()")
    if not all(table_exists(con, source) for source in table.sources):
        return UpdateResult(table.name, "waiting", None, None)
    previous = _last_snapshot(con, table)
    _fill_changed_keys(con, table, [])  # typed and empty: the SQL's columns can be read
    whole = _create_table(con, table) or not _feed_covers(con, table, previous, snapshot)
    if not whole and previous == snapshot:
        return UpdateResult(table.name, "unchanged", snapshot, previous)
    _fill_changed_keys(con, table, _relations(table, None if whole else previous, snapshot))
    keys = _scalar(con, f"SELECT count(*) FROM temp.{CHANGED_KEYS}")
    if not whole and keys == 0:
        return UpdateResult(table.name, "unchanged", previous, previous)
    deleted = _delete_rows(con, table, whole)
    inserted = _insert(con, table)
    _check_rules(con, table, _rows_of_changed_keys(table))
    _record_snapshot(con, table, snapshot)
    action = "built" if whole else "updated"
    return UpdateResult(table.name, action, snapshot, previous, keys, deleted, inserted)


def _insert(con: duckdb.DuckDBPyConnection, table: CuratedTable) -> int:
    """Insert the rows of the changed keys. A sorted table's insert runs on one thread:
    DuckDB's parallel insert leaves each file in several sorted runs, and one run per file
    is what makes a one-PCE query read a few row groups (bench/warehouse_queries.py)."""
    insert = f"INSERT INTO {table.qualified} BY NAME ({table.select()})"
    if not table.sorted_by:
        return _count(con.execute(insert))
    threads = _scalar(con, "SELECT current_setting('threads')")
    con.execute("SET threads = 1")
    try:
        return _count(con.execute(insert))
    finally:
        con.execute(f"SET threads = {threads}")


def _last_snapshot(con: duckdb.DuckDBPyConnection, table: CuratedTable) -> int | None:
    if not table_exists(con, STATE.removeprefix(f"{ALIAS}.")):
        return None
    found = con.execute(
        f"SELECT source_snapshot FROM {STATE} WHERE curated_table = ?", [table.name]
    ).fetchone()
    return None if found is None else int(found[0])


def _feed_covers(
    con: duckdb.DuckDBPyConnection, table: CuratedTable, previous: int | None, snapshot: int
) -> bool:
    """Whether the change feed holds every change of the sources since `previous`. Not
    when a snapshot after it was expired (DuckLake refuses the range), when `previous` is
    from the future (a catalog restored from a backup), nor when a source was created
    again since (its feed starts with the new table: the old one's rows never show as
    deleted)."""
    if previous is None or previous > snapshot:
        return False
    oldest = _scalar(con, f"SELECT min(snapshot_id) FROM {ALIAS}.snapshots()")
    recreated = _scalar(
        con,
        f"SELECT count(*) FROM {ALIAS}.snapshots() WHERE snapshot_id > {previous} "
        "AND list_has_any(changes['tables_created'], ?)",
        [list(table.sources)],
    )
    return oldest <= previous + 1 and recreated == 0


def _relations(table: CuratedTable, previous: int | None, snapshot: int) -> list[str]:
    """Where each source's changed keys are read: the rows its snapshots after `previous`
    inserted or deleted (an update is a delete and an insert), or all of it."""
    if previous is None:
        return [f"{ALIAS}.{source}" for source in table.sources]
    return [
        f"ducklake_table_changes('{ALIAS}', '{schema}', '{name}', {previous + 1}, {snapshot})"
        for schema, name in (source.split(".", 1) for source in table.sources)
    ]


def _fill_changed_keys(
    con: duckdb.DuckDBPyConnection, table: CuratedTable, relations: Iterable[str]
) -> None:
    """`changed_keys`: the distinct non-NULL recompute keys of `relations` (none: empty,
    typed as the first source's columns)."""
    keys = ", ".join(table.recomputed_by)
    not_null = " AND ".join(f"{k} IS NOT NULL" for k in table.recomputed_by)
    selects = [f"SELECT {keys} FROM {r} WHERE {not_null}" for r in relations] or [
        f"SELECT {keys} FROM {ALIAS}.{table.sources[0]} LIMIT 0"
    ]
    union = " UNION ALL ".join(selects)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {CHANGED_KEYS} AS SELECT DISTINCT * FROM ({union})")


def _create_table(con: duckdb.DuckDBPyConnection, table: CuratedTable) -> bool:
    """Create the table if it is missing or its columns are not the SQL's any more (the
    file changed); return whether it did: the new table is then built whole."""
    wanted = con.execute(f"DESCRIBE ({table.select()})").fetchall()
    wanted_columns = [(name, kind) for name, kind, *_ in wanted]
    if table_exists(con, table.name) and _columns_of(con, table) == wanted_columns:
        return False
    declared = ", ".join(f'"{name}" {kind}' for name, kind in wanted_columns)
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {ALIAS}.{table.schema}")
    con.execute(f"CREATE OR REPLACE TABLE {table.qualified} ({declared})")
    if table.partitioned_by:
        con.execute(
            f"ALTER TABLE {table.qualified} SET PARTITIONED BY ({_list(table.partitioned_by)})"
        )
    if table.sorted_by:
        con.execute(f"ALTER TABLE {table.qualified} SET SORTED BY ({_list(table.sorted_by)})")
    return True


def _columns_of(con: duckdb.DuckDBPyConnection, table: CuratedTable) -> list[tuple[str, str]]:
    found = con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() "
        "WHERE database_name = ? AND schema_name = ? AND table_name = ? ORDER BY column_index",
        [ALIAS, table.schema, table.table],
    ).fetchall()
    return [(name, kind) for name, kind in found]


def _delete_rows(con: duckdb.DuckDBPyConnection, table: CuratedTable, whole: bool) -> int:
    if whole:  # a rebuild after lost state may find rows: none may stay
        return _count(con.execute(f"DELETE FROM {table.qualified}"))
    same_key = " AND ".join(f"c.{k} = t.{k}" for k in table.recomputed_by)
    return _count(
        con.execute(
            f"DELETE FROM {table.qualified} AS t "
            f"WHERE EXISTS (SELECT 1 FROM temp.{CHANGED_KEYS} AS c WHERE {same_key})"
        )
    )


def _rows_of_changed_keys(table: CuratedTable) -> str:
    return f"{table.qualified} SEMI JOIN temp.{CHANGED_KEYS} USING ({_list(table.recomputed_by)})"


def rule_violations(con: duckdb.DuckDBPyConnection, table: CuratedTable, rows: str) -> list[str]:
    """What breaks `table`'s rules among `rows` (a FROM clause: the table, or part of it)."""
    unique = _list(table.unique)
    duplicated = con.execute(
        f"SELECT {unique}, count(*) FROM {rows} GROUP BY ALL HAVING count(*) > 1 LIMIT 3"
    ).fetchall()
    found = []
    if duplicated:
        found.append(f"keys ({unique}) with several rows, e.g. {duplicated[0]}")
    if table.each_row is not None:
        broken = _scalar(
            con, f"SELECT count(*) FROM {rows} WHERE NOT coalesce({table.each_row}, false)"
        )
        if broken:
            found.append(f"{broken} rows break '{table.each_row}'")
    return found


def _check_rules(con: duckdb.DuckDBPyConnection, table: CuratedTable, rows: str) -> None:
    """Raise, rolling the update back, if the rows written break a rule. The other rows
    passed when they were written, and nothing changed them since."""
    violations = rule_violations(con, table, rows)
    if violations:
        raise BlockingRuleFailed(f"{table.name}: {'; '.join(violations)}")


def _record_snapshot(con: duckdb.DuckDBPyConnection, table: CuratedTable, snapshot: int) -> None:
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {ALIAS}.gazoduc")
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {STATE} "
        "(curated_table VARCHAR, source_snapshot BIGINT, updated_at TIMESTAMP WITH TIME ZONE)"
    )
    con.execute(f"DELETE FROM {STATE} WHERE curated_table = ?", [table.name])
    con.execute(f"INSERT INTO {STATE} VALUES (?, ?, now())", [table.name, snapshot])


def _list(columns: Iterable[str]) -> str:
    return ", ".join(f'"{c}"' for c in columns)


def _scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> int:
    (value,) = con.execute(sql, params).fetchone() or (0,)
    return int(value)


def _count(cursor: duckdb.DuckDBPyConnection) -> int:
    """The row count a DELETE or INSERT returns."""
    (rows,) = cursor.fetchone() or (0,)
    return int(rows)
