"""A spec's DuckLake table: its rows read back, and a run's landing staged then committed.

A landing stages a run's rows in a temporary table of the process's DuckDB session, and
the scopes and days they replace; `commit` hands both to `landing.land`, one DuckLake
transaction with the table's blocking rules inside. A run that dies before it leaves the
table as the last commit left it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import duckdb
import pyarrow as pa

from warehouse.lake import ALIAS, Lake, table_exists
from warehouse.landing import INCOMING, Landed, create_table, land_staged, table_name
from warehouse.maintenance import keep_small_landings_inlined
from warehouse.store import Replacement, TableSpec

log = logging.getLogger(__name__)

STAGED = INCOMING  # the temp table a landing stages its rows in: `land_staged` reads it
Rules = Callable[[duckdb.DuckDBPyConnection], None]


class LakeTable:
    """A spec's DuckLake table, read and landed through one shared session of the lake."""

    def __init__(self, lake: Lake, spec: TableSpec, rules: Rules | None = None) -> None:
        self.lake, self.spec = lake, spec
        self.rules = rules  # blocking rules run on every landing's own state, see `land`

    @property
    def name(self) -> str:
        return table_name(self.spec)

    def exists(self) -> bool:
        with session(self.lake) as con:
            return self.lake_exists(con)

    def lake_exists(self, con: duckdb.DuckDBPyConnection) -> bool:
        return table_exists(con, f"{self.spec.schema}.{self.spec.name}")

    def partitions(self) -> list[str]:
        """The partition values holding rows, oldest first, as text."""
        if not self.exists():
            return []
        key = self.spec.partition_key
        with session(self.lake) as con:
            found = con.execute(
                f'SELECT DISTINCT CAST("{key}" AS VARCHAR) AS p FROM {self.name} ORDER BY p'
            ).fetchall()
        return [value for (value,) in found]

    def rows(self, where: str = "true", parameters: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """The table's rows matching `where`, as records."""
        if not self.exists():
            return []
        with session(self.lake) as con:
            cursor = con.execute(f"SELECT * FROM {self.name} WHERE {where}", parameters)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def newest_snapshot(self) -> list[dict[str, Any]]:
        """The rows of the newest partition (a snapshot table's latest snapshot)."""
        key = f'"{self.spec.partition_key}"'
        return self.rows(f"{key} = (SELECT max({key}) FROM {self.name})")

    def _create(self, con: duckdb.DuckDBPyConnection) -> None:
        create_table(con, self.spec)
        keep_small_landings_inlined(con)  # hourly captures: no file per landing

    @contextmanager
    def landing(self, partitions_of: Callable[[date, date], list[str]]) -> Iterator[Landing]:
        """Stage a run's rows; on a clean exit, land them in one transaction (`land`). An
        exception discards them: the table stays as the last commit left it."""
        with session(self.lake) as con:
            if not self.lake_exists(con):
                self.lake.write(con, self._create, f"create {self.name}")
            landing = Landing(self, con, partitions_of)
            yield landing
            landing.commit()


@dataclass
class Landing:
    """A landing being staged: rows in a temporary table, scopes and partitions replaced."""

    table: LakeTable
    con: duckdb.DuckDBPyConnection
    partitions_of: Callable[[date, date], list[str]]
    replaced: list[Replacement] = field(default_factory=list)
    replaced_in: set[str] = field(default_factory=set)
    dropped: set[str] = field(default_factory=set)
    staged_rows: int = 0
    result: Landed | None = None
    partitions: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        # Typed as the table: a landing that stages nothing still binds every statement.
        self.con.execute(
            f"CREATE OR REPLACE TEMP TABLE {STAGED} AS SELECT * FROM {self.table.name} LIMIT 0"
        )

    def replace_partition(self, key: str) -> None:
        """Declare that this run's rows are the whole partition (a snapshot)."""
        self.dropped.add(key)

    def replace(
        self,
        scope: str | None,
        first_day: date,
        last_day: date,
        fetched_at: datetime | None = None,
    ) -> None:
        """Declare that this run re-fetched the scope's rows (a PCE's, a site's; None: all
        rows) on [first_day, last_day]."""
        self.replaced.append(Replacement(scope, first_day, last_day, fetched_at))
        self.replaced_in.update(self.partitions_of(first_day, last_day))

    def add(self, table: pa.Table, keys: Sequence[str]) -> None:
        """Stage rows; `keys` gives each row's partition."""
        if not len(keys):
            return
        partition = self.table.spec.partition_key
        self.con.register("landing_batch", table.append_column(partition, pa.array(keys)))
        try:
            self.con.execute(f"INSERT INTO {STAGED} BY NAME SELECT * FROM landing_batch")
        finally:
            self.con.unregister("landing_batch")
        self.staged_rows += len(keys)

    def add_query(self, sql: str) -> int:
        """Stage the rows of a query over this session (the table's columns and its
        partition column, by name); return how many."""
        (rows,) = self.con.execute(f"INSERT INTO {STAGED} BY NAME {sql}").fetchone() or (0,)
        self.staged_rows += int(rows)
        return int(rows)

    def commit(self) -> None:
        if not (self.staged_rows or self.replaced or self.dropped):
            return  # nothing asked to change: no empty snapshot
        self.result = land_staged(
            self.table.lake,
            self.con,
            self.table.spec,
            self.replaced,
            self.replaced_in,
            self.dropped,
            self.table.rules,
        )
        self.partitions = set(self.result.partitions)
        log.info(
            "%s: %d rows in, %d out, in %d partitions",
            self.table.name,
            self.result.rows_inserted,
            self.result.rows_deleted,
            len(self.partitions),
        )


def session(lake: Lake) -> duckdb.DuckDBPyConnection:
    """A new cursor on this process's connection to `lake`: loading the extensions costs
    half a second, a cursor nothing. Each cursor has its own transactions and temporary
    tables, dropped when it is closed."""
    shared = _SESSIONS.get(lake)
    if shared is None:
        shared = _SESSIONS[lake] = lake.open()
        lake.write_bi_script()  # BI's init script names this machine's files: kept current
    cursor = shared.cursor()
    cursor.execute(f"USE {ALIAS}")
    return cursor


_SESSIONS: dict[Lake, duckdb.DuckDBPyConnection] = {}


def close_sessions() -> None:
    """Close this process's connections: the next `session` attaches again, as a new
    process would (after its warehouse was replaced under it)."""
    while _SESSIONS:
        _, shared = _SESSIONS.popitem()
        shared.close()
