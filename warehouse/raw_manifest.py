"""The raw zone's manifest: which stored answer answers which request.

Two stores, one set of columns and one meaning: a SQLite file under `$GAZODUC_HOME/state`
(one machine), or a table `raw.answers` in the shared PostgreSQL database (every machine
sees every answer, so none is asked for twice). `RawZone` (warehouse/raw.py) holds one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import astuple, dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol

COLUMNS = (
    "api, dataset, scope, first_day, last_day, outcome, records, checksum, path, "
    "fetched_at, stored_checksum"
)


@dataclass(frozen=True)
class Answer:
    """One stored answer: which request it answers, what it said, where its body is."""

    api: str
    dataset: str
    scope: str  # a PCE, a contract, a site, or ALL_SCOPES
    first_day: date
    last_day: date
    outcome: str  # data, no_data, not_allowed
    records: int
    checksum: str
    path: str  # relative to the raw zone
    fetched_at: datetime
    # SHA-256 of the file as stored (compressed): checked without decompressing, so a
    # landing that parses the files with DuckDB reads each one once. None: an answer
    # stored before it existed, checked by its body's checksum once, then recorded.
    stored_checksum: str | None = None


class Manifest(Protocol):
    """What the raw zone asks of its manifest."""

    def add(self, answer: Answer) -> None: ...

    def remove(self, path: str) -> None: ...

    def record_stored_checksum(self, path: str, stored_checksum: str) -> None: ...

    def overlapping(
        self, api: str, dataset: str, scope: str | None, first_day: date, last_day: date
    ) -> list[Answer]:
        """Answers overlapping [first_day, last_day], oldest first."""
        ...


# The same statements for both stores, in DB-API's `format` style (psycopg2's); the SQLite
# store swaps the placeholders for its own.
_INSERT = f"INSERT INTO {{table}} ({COLUMNS}) VALUES ({', '.join(['%s'] * 11)})"
_DELETE = "DELETE FROM {table} WHERE path = %s"
_RECORD = "UPDATE {table} SET stored_checksum = %s WHERE path = %s"
_SELECT = (
    f"SELECT {COLUMNS} FROM {{table}} WHERE api = %s AND dataset = %s "
    "AND first_day <= %s AND last_day >= %s"
)


def _overlapping_query(
    table: str, api: str, dataset: str, scope: str | None, first_day: date, last_day: date
) -> tuple[str, list[object]]:
    query = _SELECT.format(table=table)
    params: list[object] = [api, dataset, last_day, first_day]
    if scope is not None:
        query += " AND scope = %s"
        params.append(scope)
    return query + " ORDER BY fetched_at", params


_SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    api TEXT NOT NULL, dataset TEXT NOT NULL, scope TEXT NOT NULL,
    first_day TEXT NOT NULL, last_day TEXT NOT NULL,
    outcome TEXT NOT NULL, records INTEGER NOT NULL,
    checksum TEXT NOT NULL, path TEXT NOT NULL, fetched_at TEXT NOT NULL,
    stored_checksum TEXT
);
CREATE INDEX IF NOT EXISTS answers_by_scope ON answers (api, dataset, scope, first_day);
"""


class SqliteManifest:
    """The manifest of one machine: `state/raw.sqlite`, days and instants as ISO text."""

    def __init__(self, file: Path) -> None:
        self.file = file
        with self._connection() as con:
            _migrate(con)  # its own transaction, committed here
        with self._connection() as con:
            con.executescript(_SQLITE_SCHEMA)
            con.execute("PRAGMA journal_mode=WAL")

    def files(self) -> list[Path]:
        """The database and its WAL files, as they are now."""
        file = self.file
        return [p for p in (file, Path(f"{file}-wal"), Path(f"{file}-shm")) if p.exists()]

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.file, timeout=60)
        try:
            with con:
                yield con
        finally:
            con.close()

    def _execute(self, statement: str, params: list[object]) -> list[tuple[Any, ...]]:
        text = [p.isoformat() if isinstance(p, date) else p for p in params]
        with self._connection() as con:
            return con.execute(statement.replace("%s", "?"), text).fetchall()

    def add(self, answer: Answer) -> None:
        self._execute(_INSERT.format(table="answers"), list(astuple(answer)))

    def remove(self, path: str) -> None:
        self._execute(_DELETE.format(table="answers"), [path])

    def record_stored_checksum(self, path: str, stored_checksum: str) -> None:
        self._execute(_RECORD.format(table="answers"), [stored_checksum, path])

    def overlapping(
        self, api: str, dataset: str, scope: str | None, first_day: date, last_day: date
    ) -> list[Answer]:
        query, params = _overlapping_query("answers", api, dataset, scope, first_day, last_day)
        return [_from_text(row) for row in self._execute(query, params)]


def _migrate(con: sqlite3.Connection) -> None:
    """Manifests written before `scope` named their scope column `id_pce`: renamed in place,
    in one write transaction (two processes may open an old manifest at once)."""
    con.execute("BEGIN IMMEDIATE")
    columns = {row[1] for row in con.execute("PRAGMA table_info(answers)")}
    if "id_pce" in columns:
        con.execute("DROP INDEX IF EXISTS answers_by_pce")
        con.execute("ALTER TABLE answers RENAME COLUMN id_pce TO scope")
    if columns and "stored_checksum" not in columns:  # filled as answers are verified
        con.execute("ALTER TABLE answers ADD COLUMN stored_checksum TEXT")


def _from_text(row: tuple[Any, ...]) -> Answer:
    api, dataset, scope, first, last, outcome, records, checksum, path, fetched, stored = row
    return Answer(
        api,
        dataset,
        scope,
        date.fromisoformat(first),
        date.fromisoformat(last),
        outcome,
        int(records),
        checksum,
        path,
        datetime.fromisoformat(fetched),
        stored,
    )


POSTGRES_SCHEMA = "raw"  # its own schema: Dagster's and DuckLake's tables live beside it
_POSTGRES_TABLE = f"{POSTGRES_SCHEMA}.answers"
_POSTGRES_DDL = f"""
CREATE SCHEMA IF NOT EXISTS {POSTGRES_SCHEMA};
CREATE TABLE IF NOT EXISTS {_POSTGRES_TABLE} (
    api TEXT NOT NULL, dataset TEXT NOT NULL, scope TEXT NOT NULL,
    first_day DATE NOT NULL, last_day DATE NOT NULL,
    outcome TEXT NOT NULL, records INTEGER NOT NULL,
    checksum TEXT NOT NULL, path TEXT NOT NULL, fetched_at TIMESTAMPTZ NOT NULL,
    stored_checksum TEXT
);
CREATE INDEX IF NOT EXISTS answers_by_scope
    ON {_POSTGRES_TABLE} (api, dataset, scope, first_day);
"""
# `IF NOT EXISTS` does not make two first creations at once safe (both insert the same
# catalog row, one fails): machines starting together take turns on this lock.
_DDL_LOCK = "SELECT pg_advisory_xact_lock(hashtext('gazoduc raw manifest'))"


class PostgresManifest:
    """The manifest every machine shares: `raw.answers` in GAZODUC_DATABASE_URL's database,
    days as DATE and instants as TIMESTAMPTZ."""

    def __init__(self, url: str) -> None:
        self.url = url  # may carry a password: never put in a message
        with self._connection() as con, con.cursor() as cursor:
            cursor.execute(_DDL_LOCK)
            cursor.execute(_POSTGRES_DDL)

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        import psycopg2  # the shared mode's driver: the embedded mode never loads it

        con = psycopg2.connect(self.url)
        try:
            with con:  # commits on a clean exit, rolls back on an exception
                yield con
        finally:
            con.close()

    def _execute(self, statement: str, params: list[object]) -> list[tuple[Any, ...]]:
        with self._connection() as con, con.cursor() as cursor:
            cursor.execute(statement, params)
            return cursor.fetchall() if cursor.description else []

    def add(self, answer: Answer) -> None:
        self._execute(_INSERT.format(table=_POSTGRES_TABLE), list(astuple(answer)))

    def remove(self, path: str) -> None:
        self._execute(_DELETE.format(table=_POSTGRES_TABLE), [path])

    def record_stored_checksum(self, path: str, stored_checksum: str) -> None:
        self._execute(_RECORD.format(table=_POSTGRES_TABLE), [stored_checksum, path])

    def overlapping(
        self, api: str, dataset: str, scope: str | None, first_day: date, last_day: date
    ) -> list[Answer]:
        query, params = _overlapping_query(
            _POSTGRES_TABLE, api, dataset, scope, first_day, last_day
        )
        return [Answer(*row) for row in self._execute(query, params)]
