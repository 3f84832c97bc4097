"""The warehouse is a DuckLake: where it lives, how to open it, how to write it.

One place for each fact:
- `connect` is the only way gazoduc opens DuckDB with extensions. They are loaded from the
  files of their pip packages (pinned with `duckdb` in pyproject.toml), never downloaded:
  auto-install and auto-load are off, and DuckDB's signature check stays on.
- `Lake.at` is the only place that turns `GAZODUC_WAREHOUSE` (a DuckLake attach string),
  or the shared mode's database and storage, into an ATTACH statement.
- `Lake.write` is the only way to write: one transaction, retried whole when refused.

Embedded (the default), the catalog is `$GAZODUC_HOME/warehouse.sqlite` and the data
`$GAZODUC_HOME/warehouse/`. Two traps of DuckLake 1.5.5 with a SQLite catalog:
- Two writers committing at once fail with "database is locked": a DuckLake transaction
  reads the catalog, then upgrades to a writer at COMMIT, and SQLite refuses the upgrade
  without calling its busy handler (duckdb/ducklake#1309, fixed after 1.5.5). No setting
  helps, so writers on this machine take turns on a file lock, and a write that still
  meets the error (a writer that does not take the lock) is retried whole a few times.
- The data path is stored in the catalog. A copied or moved `$GAZODUC_HOME` attached
  without DATA_PATH would read, and write, the original's folder: every attach names the
  data folder of the home it is given, with OVERRIDE_DATA_PATH.
The catalog runs in WAL mode, so readers never block a writer and never see a lock error.

Shared (several machines), the catalog is in PostgreSQL (schema `ducklake`) and the data
under the S3 prefix's `warehouse/`. DuckLake commits two transactions on PostgreSQL when
the other one touched other tables, or only inserted: two landings of the same new keys
at once would both land them. So writers take turns there too, on an advisory lock of
the catalog's database, which the server drops with a killed writer's session. A
"Transaction conflict" (a writer that does not take the lock) is retried whole, as the
lock error is. Two first attaches of an empty catalog race to create it; the loser
attaches again. The catalog's password reaches libpq by PGPASSWORD only: DuckDB prints
the connection string of a postgres connection that fails.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import logging
import os
import random
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

import duckdb

from warehouse.s3 import S3Location

log = logging.getLogger(__name__)

T = TypeVar("T")

ALIAS = "lake"  # the attached warehouse's name: `lake.adict.informative_consumption`
ENV_VAR = "GAZODUC_WAREHOUSE"
HOME_PLACEHOLDER = "$GAZODUC_HOME"
DEFAULT_ATTACH = f"ducklake:sqlite:{HOME_PLACEHOLDER}/warehouse.sqlite"
DATA_FOLDER = "warehouse"  # under $GAZODUC_HOME: the Parquet files
LOCK_FILE = Path("state") / "warehouse.lock"  # under $GAZODUC_HOME
BI_SCRIPT = Path("bi") / "attach.sql"  # under $GAZODUC_HOME
METADATA_SCHEMA = "ducklake"  # a shared catalog's schema, beside Dagster's and the raw zone's
S3_SECRET = "gazoduc_s3"
WRITE_ATTEMPTS = 5
RETRY_WAIT_SECONDS = 0.2  # times the attempt number
# What a connection string or a URI may carry as a password: libpq's `password=…` (bare,
# quoted, or quoted inside a SQL literal, where quotes are doubled), `user:password@`, and
# an S3 secret key in a CREATE SECRET.
_PASSWORD_VALUE = r"(?:''.*?''|'[^']*'|[^\s'\"]+)"
_SECRETS = (
    (re.compile(rf"(password\s*=\s*){_PASSWORD_VALUE}", re.IGNORECASE), r"\1***"),
    (re.compile(r"(://[^/:@\s]+:)[^@\s]+@"), r"\1***@"),
    (re.compile(r"(\bSECRET\s+)'[^']*'", re.IGNORECASE), r"\1'***'"),
)


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
    data_path: Path  # the local data folder; unused when `storage` holds the data
    lock_file: Path
    bi_script: Path
    storage: S3Location | None = None  # the shared mode's bucket: data under `warehouse/`
    metadata_schema: str | None = None  # the shared catalog's own schema
    # The shared catalog's password, apart from `metadata`: the BI script, a file, leaves it
    # to libpq (PGPASSWORD, ~/.pgpass) instead of writing it down.
    password: str | None = field(default=None, repr=False)

    @classmethod
    def at(
        cls,
        home: Path,
        attach: str | None = None,
        *,
        database_url: str | None = None,
        storage: S3Location | None = None,
    ) -> Lake:
        """The warehouse of `home`: `attach`, else $GAZODUC_WAREHOUSE, else a catalog in
        `database_url`'s PostgreSQL database, else the embedded default; its data in
        `storage`, else under `home`. `$GAZODUC_HOME` in the string stands for `home`; a
        relative SQLite catalog path is under `home` too, so a copied home is
        self-contained."""
        home = home.resolve()
        lake = cls("", home / DATA_FOLDER, home / LOCK_FILE, home / BI_SCRIPT, storage)
        attach = attach or os.environ.get(ENV_VAR)
        if attach is None and database_url is not None:
            conninfo, password = libpq_conninfo(database_url)
            return replace(
                lake,
                metadata=f"postgres:{conninfo}",
                metadata_schema=METADATA_SCHEMA,
                password=password,
            )
        attach = (attach or DEFAULT_ATTACH).replace(HOME_PLACEHOLDER, str(home))
        if not attach.startswith("ducklake:"):
            raise ValueError(f"{ENV_VAR} must be a DuckLake attach string (ducklake:…): {attach}")
        metadata = attach.removeprefix("ducklake:")
        if metadata.startswith("sqlite:"):
            metadata = f"sqlite:{home / metadata.removeprefix('sqlite:')}"
        return replace(lake, metadata=metadata)

    @property
    def sqlite_catalog(self) -> Path | None:
        return Path(self.metadata.removeprefix("sqlite:")) if self._on_sqlite else None

    @property
    def _on_sqlite(self) -> bool:
        return self.metadata.startswith("sqlite:")

    @property
    def data_url(self) -> str:
        """Where the Parquet files are: a local folder, or an s3:// prefix."""
        if self.storage is not None:
            return self.storage.url(f"{DATA_FOLDER}/")
        return f"{self.data_path}/"

    def extensions(self) -> tuple[Extension, ...]:
        catalog = (SQLITE,) if self._on_sqlite else ()
        if self.metadata.startswith("postgres:"):
            catalog = (POSTGRES,)
        return (DUCKLAKE, *catalog, *((HTTPFS,) if self.storage is not None else ()))

    def attach_sql(self, read_only: bool = False) -> str:
        """The ATTACH statement for this warehouse (BI's attach.sql carries it too). It
        never names the shared catalog's password: libpq takes it from PGPASSWORD
        (`open` sets it for this process), so no DuckDB error can show it."""
        options = [
            f"DATA_PATH {sql_string(self.data_url)}",
            "OVERRIDE_DATA_PATH true",  # a copied home writes where it is, see module doc
        ]
        if self._on_sqlite:
            options.append("META_JOURNAL_MODE 'WAL'")
        if self.metadata_schema is not None:
            options.append(f"METADATA_SCHEMA {sql_string(self.metadata_schema)}")
        if read_only:
            options.append("READ_ONLY")
        catalog = sql_string(f"ducklake:{self.metadata}")
        return f"ATTACH {catalog} AS {ALIAS} ({', '.join(options)})"

    def s3_secret_sql(self, from_environment: bool = False) -> str | None:
        """The CREATE SECRET that lets DuckDB read and write the bucket (None: no bucket).
        `from_environment`: the keys as `getenv(…)` of the AWS_* variables, for a script
        (the DuckDB shell has `getenv`; Python's DuckDB has not)."""
        if self.storage is None:
            return None
        return s3_secret_sql(self.storage, from_environment)

    def script_environment(self) -> dict[str, str]:
        """What a DuckDB shell running the BI script needs in its environment: the secrets
        the script leaves out."""
        storage = self.storage
        found = {
            "PGPASSWORD": self.password,
            "AWS_ACCESS_KEY_ID": storage.key_id if storage else None,
            "AWS_SECRET_ACCESS_KEY": storage.secret if storage else None,
        }
        return {name: value for name, value in found.items() if value is not None}

    def write_bi_script(self) -> Path:
        """Write `$GAZODUC_HOME/bi/attach.sql`, the init script of a BI tool's DuckDB
        session (DuckDB 1.5.5 exactly: the extensions are version-locked): the same
        extension files and the same ATTACH as gazoduc's, read-only. The paths are this
        machine's, so the script is rewritten, never copied along with a home. It names no
        password or key of the shared mode (see `script_environment`); created 0600 all
        the same, as GAZODUC_WAREHOUSE may carry one."""
        secret = self.s3_secret_sql(from_environment=True)
        lines = [
            "-- The gazoduc warehouse, read-only. Written by gazoduc: do not edit.",
            "SET autoinstall_known_extensions = false;",
            "SET autoload_known_extensions = false;",
            *(f"LOAD {sql_string(str(e.file()))};" for e in self.extensions()),
            *([f"{secret};"] if secret else []),
            f"{self.attach_sql(read_only=True)};",
            f"USE {ALIAS};",
        ]
        self.bi_script.parent.mkdir(parents=True, exist_ok=True)
        write_private(self.bi_script, "\n".join(lines) + "\n")
        return self.bi_script

    def open(self, read_only: bool = False) -> duckdb.DuckDBPyConnection:
        """A connection with the warehouse attached as `lake` and selected (`USE lake`).
        An error names the catalog with its password masked."""
        catalog = self.sqlite_catalog
        if read_only and catalog is not None and not catalog.exists():
            raise WarehouseNotFound(f"no warehouse yet at {catalog}: nothing has landed")
        if not read_only and self.storage is None:
            self.data_path.mkdir(parents=True, exist_ok=True)
        if not read_only and catalog is not None:
            catalog.parent.mkdir(parents=True, exist_ok=True)
        if self.password is not None:
            # DuckDB's postgres connections read it from libpq's environment: it is never in
            # a connection string a failure could print (connections are opened lazily).
            os.environ["PGPASSWORD"] = self.password
        con = connect(*self.extensions())
        try:
            secret = self.s3_secret_sql()
            if secret is not None:
                con.execute(secret)  # temporary: in this session's memory only
            self._attach(con, read_only)
            con.execute(f"USE {ALIAS}")
        except duckdb.Error as error:
            con.close()
            raise type(error)(masked(str(error))) from None
        except BaseException:
            con.close()
            raise
        return con

    def _attach(self, con: duckdb.DuckDBPyConnection, read_only: bool) -> None:
        if read_only:
            con.execute(self.attach_sql(read_only=True))
            return
        # The first attach creates the catalog's tables: a write like any other.
        with self.writer_lock():
            for attempt in range(1, WRITE_ATTEMPTS + 1):
                try:
                    con.execute(self.attach_sql())
                    return
                except duckdb.Error as error:
                    if not _catalog_created_meanwhile(error) or attempt == WRITE_ATTEMPTS:
                        raise
                    time.sleep(RETRY_WAIT_SECONDS * attempt)

    def write(
        self,
        con: duckdb.DuckDBPyConnection,
        work: Callable[[duckdb.DuckDBPyConnection], T],
        message: str | None = None,
    ) -> T:
        """Run `work(con)` as one transaction and commit it; return what it returned.

        Any exception rolls the whole transaction back, files included. `work` may run
        more than once: a commit refused with "database is locked" (SQLite) or a DuckLake
        "Transaction conflict" (a concurrent writer changed the same table) is retried
        whole, so `work` must be idempotent (a landing is: delete its scope, insert its
        rows). `message` is recorded with the snapshot (`lake.snapshots()`).
        """
        with self.writer_lock():
            for attempt in range(1, WRITE_ATTEMPTS + 1):
                try:
                    return _transaction(con, work, message)
                except duckdb.Error as error:
                    if not _retryable(error) or attempt == WRITE_ATTEMPTS:
                        raise
                    log.warning("warehouse write attempt %d: %s; retrying", attempt, error)
                    # Jittered: two writers refused together do not retry in lockstep.
                    time.sleep(RETRY_WAIT_SECONDS * attempt * random.uniform(0.5, 1.5))
        raise AssertionError("unreachable: the last attempt returns or raises")

    def writer_lock(self) -> contextlib.AbstractContextManager[None]:
        """Writers take turns (see module doc): on this machine with a file lock for an
        embedded catalog; across machines with an advisory lock of the shared catalog's
        database. DuckLake on PostgreSQL commits two transactions that only insert, and two
        landings of the same new keys would both land them: one writer at a time deletes
        what the other inserted."""
        if self._on_sqlite:
            return _flock(self.lock_file)
        if self.metadata.startswith("postgres:"):
            return _advisory_lock(self.metadata.removeprefix("postgres:"), self.password)
        return nullcontext()


# The shared catalog's writer lock: one key for every gazoduc process of the database.
ADVISORY_LOCK_KEY = "gazoduc warehouse writer"


@contextmanager
def _advisory_lock(conninfo: str, password: str | None) -> Iterator[None]:
    """A session-level advisory lock on the catalog's database, held while the block runs.
    The server drops it with the session: a killed writer never leaves it held."""
    import psycopg2  # the shared mode's driver; the embedded mode never imports it

    try:
        con = psycopg2.connect(conninfo, password=password)
    except psycopg2.Error as error:
        raise OSError(masked(f"warehouse writer lock: {error}")) from None
    try:
        con.autocommit = True
        with con.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(hashtext(%s))", (ADVISORY_LOCK_KEY,))
        yield
    finally:
        con.close()  # the lock goes with the session


@contextmanager
def _flock(lock_file: Path) -> Iterator[None]:
    """The kernel drops the lock with its process: a killed writer never leaves it held."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "a") as lock:
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


def _retryable(error: duckdb.Error) -> bool:
    """A commit refused by a concurrent writer, which the same work may redo."""
    return "database is locked" in str(error) or "Transaction conflict" in str(error)


def _catalog_created_meanwhile(error: duckdb.Error) -> bool:
    """Another process created the empty catalog's schema or tables under this attach."""
    text = str(error)
    return "Failed to initialize DuckLake" in text and (
        "already exists" in text or "duplicate key" in text
    )


def s3_secret_sql(storage: S3Location, from_environment: bool = False) -> str:
    """A DuckDB S3 secret for `storage`, scoped to its bucket and prefix."""
    if from_environment:
        keys = ["KEY_ID getenv('AWS_ACCESS_KEY_ID')", "SECRET getenv('AWS_SECRET_ACCESS_KEY')"]
    elif storage.key_id is not None:
        keys = [
            f"KEY_ID {sql_string(storage.key_id)}",
            f"SECRET {sql_string(storage.secret or '')}",
        ]
    else:
        keys = []
    options = ["TYPE s3", *keys, f"REGION {sql_string(storage.region)}"]
    if storage.endpoint_host is not None:
        options.append(f"ENDPOINT {sql_string(storage.endpoint_host)}")
        options.append(f"USE_SSL {str(not storage.plain_http).lower()}")
        options.append("URL_STYLE 'path'")  # what S3-compatible stores all serve
    options.append(f"SCOPE {sql_string(storage.url(''))}")
    return f"CREATE OR REPLACE SECRET {S3_SECRET} ({', '.join(options)})"


def libpq_conninfo(url: str) -> tuple[str, str | None]:
    """A `postgresql://user:password@host:port/db?option=value` URL as libpq's
    `key=value` string, without its password, and the password apart."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError("a PostgreSQL database URL starts with postgresql://")
    found = {
        "dbname": unquote(parts.path.lstrip("/")) or None,
        "host": parts.hostname,
        "port": str(parts.port) if parts.port else None,
        "user": unquote(parts.username) if parts.username else None,
        **dict(parse_qsl(parts.query)),
    }
    password = found.pop("password", None) or (unquote(parts.password) if parts.password else None)
    conninfo = " ".join(f"{key}={libpq_value(value)}" for key, value in found.items() if value)
    return conninfo, password


def libpq_value(value: str) -> str:
    """`value` quoted for a libpq `key=value` string."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def write_private(path: Path, text: str) -> None:
    """Write `text` to a file readable by its owner only, from its creation on, and
    whole: written beside, then renamed over (a BI tool starting meanwhile reads the old
    script or the new one, never half of one)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(tmp, path)


def masked(text: str) -> str:
    """`text` with any password or secret key in it replaced by ***."""
    for secret, replacement in _SECRETS:
        text = secret.sub(replacement, text)
    return text


def table_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Whether the lake holds table `name` (`schema.table`)."""
    schema, table = name.split(".", 1)
    found = con.execute(
        "SELECT count(*) FROM duckdb_tables() "
        "WHERE database_name = ? AND schema_name = ? AND table_name = ?",
        [ALIAS, schema, table],
    ).fetchone()
    return found == (1,)


def sql_string(text: str) -> str:
    """`text` as a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"
