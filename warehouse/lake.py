"""The warehouse is a DuckLake: where it lives, how to open it, how to write it.

One place for each fact:
- `connect` is the only way gazoduc opens DuckDB with extensions. They are loaded from the
  files of their pip packages (pinned with `duckdb` in pyproject.toml), never downloaded:
  auto-install and auto-load are off, and DuckDB's signature check stays on.
- `Lake.at` is the only place that turns `GAZODUC_WAREHOUSE` (a DuckLake attach string)
  into an ATTACH statement.
- `Lake.write` is the only way to write: one transaction, under the writer lock.

Two traps of DuckLake 1.5.5 with a SQLite catalog that the attach and the writes avoid:
- Two writers committing at once fail with "database is locked": a DuckLake transaction
  reads the catalog, then upgrades to a writer at COMMIT, and SQLite refuses the upgrade
  without calling its busy handler (duckdb/ducklake#1309, fixed after 1.5.5). No setting
  helps, so writers on this machine take turns on a file lock, and a write that still
  meets the error (a writer that does not take the lock) is retried whole a few times.
- The data path is stored in the catalog. A copied or moved `$GAZODUC_HOME` attached
  without DATA_PATH would read, and write, the original's folder: every attach names the
  data folder of the home it is given, with OVERRIDE_DATA_PATH.
The catalog runs in WAL mode, so readers never block a writer and never see a lock error.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import duckdb

log = logging.getLogger(__name__)

T = TypeVar("T")

ALIAS = "lake"  # the attached warehouse's name: `lake.adict.informative_consumption`
ENV_VAR = "GAZODUC_WAREHOUSE"
HOME_PLACEHOLDER = "$GAZODUC_HOME"
DEFAULT_ATTACH = f"ducklake:sqlite:{HOME_PLACEHOLDER}/warehouse.sqlite"
DATA_FOLDER = "warehouse"  # under $GAZODUC_HOME: the Parquet files
LOCK_FILE = Path("state") / "warehouse.lock"  # under $GAZODUC_HOME
BI_SCRIPT = Path("bi") / "attach.sql"  # under $GAZODUC_HOME
WRITE_ATTEMPTS = 5
RETRY_WAIT_SECONDS = 0.2  # times the attempt number


@dataclass(frozen=True)
class Extension:
    """A DuckDB extension and the pip package that ships its file."""

    name: str  # the file's stem, which is also its init symbol's prefix
    package: str

    def file(self) -> Path:
        """The extension file for the running DuckDB, or MissingExtension."""
        version = duckdb.__version__
        hint = f"pip install '{self.package}=={version}'"
        spec = importlib.util.find_spec(self.package.replace("-", "_"))
        if spec is None or not spec.submodule_search_locations:
            raise MissingExtension(f"DuckDB extension {self.name!r} is not installed: {hint}")
        folder = Path(next(iter(spec.submodule_search_locations)))
        path = folder / "extensions" / f"v{version}" / f"{self.name}.duckdb_extension"
        if not path.is_file():
            raise MissingExtension(
                f"{self.package} has no {self.name!r} extension for DuckDB {version} "
                f"({path} is missing; the package and duckdb must share a version): {hint}"
            )
        return path


DUCKLAKE = Extension("ducklake", "duckdb-extension-ducklake")
SQLITE = Extension("sqlite_scanner", "duckdb-extension-sqlite-scanner")
POSTGRES = Extension("postgres_scanner", "duckdb-extension-postgres-scanner")
HTTPFS = Extension("httpfs", "duckdb-extension-httpfs")


class MissingExtension(RuntimeError):
    """An extension's package is not installed, or not for this DuckDB version."""


class BlockingRuleFailed(RuntimeError):
    """What a write would have committed fails a blocking rule: it was rolled back."""


class WarehouseNotFound(RuntimeError):
    """A read-only open of a warehouse that nothing has written yet."""


def connect(*extensions: Extension, database: str = ":memory:") -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with `extensions` loaded from their packages' files.

    With auto-install on, an ATTACH 'ducklake:…' downloads the extension at run time; with
    auto-load on, DuckDB looks for it in ~/.duckdb, where the packages do not put it.
    """
    files = [extension.file() for extension in extensions]  # all missing ones fail first
    con = duckdb.connect(
        database,
        config={"autoinstall_known_extensions": False, "autoload_known_extensions": False},
    )
    try:
        for path in files:
            con.execute(f"LOAD {sql_string(str(path))}")
    except BaseException:
        con.close()
        raise
    return con


@dataclass(frozen=True)
class Lake:
    """The warehouse a `$GAZODUC_HOME` uses: its DuckLake catalog and data folder."""

    metadata: str  # what follows `ducklake:`, e.g. `sqlite:/abs/warehouse.sqlite`
    data_path: Path
    lock_file: Path
    bi_script: Path

    @classmethod
    def at(cls, home: Path, attach: str | None = None) -> Lake:
        """The warehouse of `home`: `attach`, else $GAZODUC_WAREHOUSE, else the embedded
        default. `$GAZODUC_HOME` in the string stands for `home`; a relative SQLite
        catalog path is under `home` too, so a copied home is self-contained."""
        home = home.resolve()
        attach = attach or os.environ.get(ENV_VAR) or DEFAULT_ATTACH
        attach = attach.replace(HOME_PLACEHOLDER, str(home))
        if not attach.startswith("ducklake:"):
            raise ValueError(f"{ENV_VAR} must be a DuckLake attach string (ducklake:…): {attach}")
        metadata = attach.removeprefix("ducklake:")
        if metadata.startswith("sqlite:"):
            metadata = f"sqlite:{home / metadata.removeprefix('sqlite:')}"
        return cls(metadata, home / DATA_FOLDER, home / LOCK_FILE, home / BI_SCRIPT)

    @property
    def sqlite_catalog(self) -> Path | None:
        return Path(self.metadata.removeprefix("sqlite:")) if self._on_sqlite else None

    @property
    def _on_sqlite(self) -> bool:
        return self.metadata.startswith("sqlite:")

    def extensions(self) -> tuple[Extension, ...]:
        if self._on_sqlite:
            return (DUCKLAKE, SQLITE)
        if self.metadata.startswith("postgres:"):
            return (DUCKLAKE, POSTGRES)
        return (DUCKLAKE,)

    def attach_sql(self, read_only: bool = False) -> str:
        """The ATTACH statement for this warehouse (BI's attach.sql carries it too)."""
        options = [
            f"DATA_PATH {sql_string(f'{self.data_path}/')}",
            "OVERRIDE_DATA_PATH true",  # a copied home writes where it is, see module doc
        ]
        if self._on_sqlite:
            options.append("META_JOURNAL_MODE 'WAL'")
        if read_only:
            options.append("READ_ONLY")
        catalog = sql_string(f"ducklake:{self.metadata}")
        return f"ATTACH {catalog} AS {ALIAS} ({', '.join(options)})"

    def write_bi_script(self) -> Path:
        """Write `$GAZODUC_HOME/bi/attach.sql`, the init script of a BI tool's DuckDB
        session (DuckDB 1.5.5 exactly: the extensions are version-locked): the same
        extension files and the same ATTACH as gazoduc's, read-only. The paths are this
        machine's, so the script is rewritten, never copied along with a home."""
        lines = [
            "-- The gazoduc warehouse, read-only. Written by gazoduc: do not edit.",
            "SET autoinstall_known_extensions = false;",
            "SET autoload_known_extensions = false;",
            *(f"LOAD {sql_string(str(e.file()))};" for e in self.extensions()),
            f"{self.attach_sql(read_only=True)};",
            f"USE {ALIAS};",
        ]
        self.bi_script.parent.mkdir(parents=True, exist_ok=True)
        self.bi_script.write_text("\n".join(lines) + "\n")
        return self.bi_script

    def open(self, read_only: bool = False) -> duckdb.DuckDBPyConnection:
        """A connection with the warehouse attached as `lake` and selected (`USE lake`)."""
        catalog = self.sqlite_catalog
        if read_only and catalog is not None and not catalog.exists():
            raise WarehouseNotFound(f"no warehouse yet at {catalog}: nothing has landed")
        if not read_only:
            self.data_path.mkdir(parents=True, exist_ok=True)
            if catalog is not None:
                catalog.parent.mkdir(parents=True, exist_ok=True)
        con = connect(*self.extensions())
        try:
            if read_only:
                con.execute(self.attach_sql(read_only=True))
            else:
                # The first attach creates the catalog's tables: a write like any other.
                with self.writer_lock():
                    con.execute(self.attach_sql())
            con.execute(f"USE {ALIAS}")
        except BaseException:
            con.close()
            raise
        return con

    def write(
        self,
        con: duckdb.DuckDBPyConnection,
        work: Callable[[duckdb.DuckDBPyConnection], T],
        message: str | None = None,
    ) -> T:
        """Run `work(con)` as one transaction and commit it; return what it returned.

        Any exception rolls the whole transaction back, files included. `work` may run
        more than once: a commit refused with "database is locked" is retried whole, so
        `work` must be idempotent (a landing is: delete its scope, insert its rows).
        `message` is recorded with the snapshot (`lake.snapshots()`).
        """
        with self.writer_lock():
            for attempt in range(1, WRITE_ATTEMPTS + 1):
                try:
                    return _transaction(con, work, message)
                except duckdb.Error as error:
                    if not _catalog_locked(error) or attempt == WRITE_ATTEMPTS:
                        raise
                    log.warning("warehouse write attempt %d: %s; retrying", attempt, error)
                    time.sleep(RETRY_WAIT_SECONDS * attempt)
        raise AssertionError("unreachable: the last attempt returns or raises")

    @contextmanager
    def writer_lock(self) -> Iterator[None]:
        """Writers of this warehouse on this machine take turns (see module doc). The
        kernel drops the lock with its process: a killed writer never leaves it held."""
        self.lock_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_file, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield


def _transaction(
    con: duckdb.DuckDBPyConnection,
    work: Callable[[duckdb.DuckDBPyConnection], T],
    message: str | None,
) -> T:
    con.execute("BEGIN TRANSACTION")
    try:
        if message is not None:
            con.execute(f"CALL {ALIAS}.set_commit_message('gazoduc', ?)", [message])
        result = work(con)
        con.execute("COMMIT")
    except BaseException:
        _rollback(con)
        raise
    return result


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    with contextlib.suppress(duckdb.TransactionException):  # a failed COMMIT rolled back
        con.execute("ROLLBACK")


def _catalog_locked(error: duckdb.Error) -> bool:
    return "database is locked" in str(error)


def sql_string(text: str) -> str:
    """`text` as a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"
