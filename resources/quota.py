"""The quota ledger: the one place every gazoduc process takes its calls from.

ADICT counts calls per client across *all* of that client's runs (1 call/s, 6,000 to
240,000 a day). A backfill, the daily schedule and a CLI command running side by side
must therefore take their calls from one shared place: each call first claims a slot
here, in a transaction no other claimant of the same client interleaves with, so two
processes can never claim slots closer than 1/limit seconds apart, nor more than the
daily budget.

The rules (spacing, penalty, budget) live in `QuotaLedger`; a store only keeps the slots
and dates them. Two stores: a SQLite file of this machine (GAZODUC_DATABASE_URL unset),
dated by this machine's clock; or the shared PostgreSQL database (`gazoduc` schema),
dated by the database's clock, so machines whose clocks disagree still space their calls
on one clock: a process only ever waits durations the database computed.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit
from zoneinfo import ZoneInfo

import psycopg2
import psycopg2.errors

PARIS = ZoneInfo("Europe/Paris")

# GRDF counts *arrivals*. A call granted at g and answered (headers) d seconds later
# arrived at the server no later than g + d; the next call arrives no earlier than its own
# grant. So granting the next call 1/limit + d after the previous grant keeps arrivals
# 1/limit apart however the machine's load delays them: the spacing follows the previous
# call's own measured delay. d also counts the server's work before its first byte, which
# a real upstream may take long over: the delay is capped at MAX_DELAY_MARGIN, so a slow
# upstream costs at most that much of the rate, and the per-second 429s that a longer
# delay could still cause widen the spacing through the penalty. While the previous call
# is unanswered, the next claimant waits for its answer, up to the cap. The cap is wide
# on purpose: a loaded machine delays arrivals by tens of milliseconds, in absolute terms.
# Fractions of 1/limit:
BASE_MARGIN = 0.01  # clock granularity, the server's own timing
MAX_DELAY_MARGIN = 0.25  # the most of the previous call's delay the spacing waits for
PENALTY_STEP = 0.25  # added by each per-second 429 (a client whose ledger we cannot see)
MAX_PENALTY = 2.0  # up to 3 × 1/limit: room for a second, uncoordinated client
PENALTY_DECAY = 0.98  # per call answered without a rejection
POLL_SECONDS = 0.005  # how often a claimant looks whether the previous call was answered
# Slots older than this are pruned when a ledger is opened.
KEEP_DAYS = 8

# Where a ledger lives: the SQLite file of this machine (a Path), or the URL of the
# PostgreSQL database every machine shares (a str).
LedgerAt = Path | str


def clock() -> float:
    """This process's wall-clock seconds; tests move it (across Paris midnight). It dates
    the slots of the SQLite ledger; the PostgreSQL ledger uses it only for durations."""
    return time.time()


def sleep(seconds: float) -> None:
    """Waiting for a slot; tests replace it with a clock they move."""
    time.sleep(seconds)


@dataclass(frozen=True)
class QuotaLimits:
    calls_per_second: float
    calls_per_day: int

    def __post_init__(self) -> None:
        if not self.calls_per_second > 0 or not self.calls_per_day > 0:
            raise ValueError(
                f"quota limits must be positive: {self.calls_per_second} calls/s, "
                f"{self.calls_per_day} calls/day"
            )

    @property
    def interval(self) -> float:
        """The contract's minimum time between two arrivals."""
        return 1.0 / self.calls_per_second


class QuotaExhausted(RuntimeError):
    """Today's budget is spent; carries when it resets so callers can say so."""

    def __init__(
        self, api: str, used: int, limit: int, resets_at: datetime, by_server: bool = False
    ) -> None:
        self.api, self.used, self.limit, self.resets_at = api, used, limit, resets_at
        spent = (
            f"the server says today's budget is spent although this machine counted "
            f"{used:,} of {limit:,} calls (another user of the same client id?)"
            if by_server
            else f"{used:,} of {limit:,} calls used today"
        )
        super().__init__(f"{api}: {spent}; resumes after {resets_at:%Y-%m-%d %H:%M} Europe/Paris")


class LedgerError(RuntimeError):
    """The ledger's database cannot be reached or read. The message names where it is,
    never with the URL's password."""

    def __init__(self, where: LedgerAt, error: Exception) -> None:
        super().__init__(f"quota ledger {masked(where)}: {_scrubbed(str(error), where)}")


@dataclass(frozen=True)
class Usage:
    api: str
    client: str
    day: date
    used: int


@dataclass(frozen=True)
class RecordedRejection:
    api: str
    client: str
    at: float
    status: int
    detail: str

    def line(self) -> str:
        return (
            f"{datetime.fromtimestamp(self.at, PARIS):%Y-%m-%d %H:%M:%S} {self.api} "
            f"{self.client} HTTP {self.status} {self.detail[:80]}"
        )


@dataclass(frozen=True)
class Slot:
    """A granted call: its ledger row, when the store granted it (the store's clock, which
    may be another machine's), and this process's `clock()` no later than that grant: the
    call's delay is measured from `local_at`, never from `at`."""

    row: int
    at: float
    local_at: float


def ledger_path(state_dir: Path) -> Path:
    return state_dir / "quota.sqlite"


def ledger_at(state_dir: Path, database_url: str | None) -> LedgerAt:
    """The shared database when there is one, else this machine's file under `state_dir`."""
    return database_url or ledger_path(state_dir)


def masked(where: LedgerAt) -> str:
    """`where` fit for a message or a log: a URL's password (in its user part or as a
    `password=` parameter, both of which libpq reads) shown as ***."""
    if isinstance(where, Path):
        return str(where)
    parts = urlsplit(where)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = netloc.replace(f":{parts.password}@", ":***@", 1)
    query = "&".join(
        "password=***" if pair.split("=", 1)[0] == "password" else pair
        for pair in parts.query.split("&")
    )
    return parts._replace(netloc=netloc, query=query).geturl()


def _scrubbed(text: str, where: LedgerAt) -> str:
    """A driver's message without the password, should it echo the URL back."""
    if isinstance(where, str):
        parts = urlsplit(where)
        given = [parts.password, *(v for k, v in parse_qsl(parts.query) if k == "password")]
        for secret in {form for pw in given if pw for form in (pw, unquote(pw))}:
            text = text.replace(secret, "***")
    return " ".join(text.split())


def paris_day(epoch_seconds: float) -> date:
    return datetime.fromtimestamp(epoch_seconds, PARIS).date()


def next_paris_midnight(epoch_seconds: float) -> datetime:
    tomorrow = paris_day(epoch_seconds) + timedelta(days=1)
    return datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=PARIS)


class QuotaLedger:
    """Claims call slots for one (api, client id) under the given limits: the rules.

    `where` is this machine's SQLite file or the shared PostgreSQL database (`ledger_at`).
    A slot is granted in a turn no other claimant of the client interleaves with, and
    dated by the store's clock then; the caller sends at once and reports the delay it
    observed (`observed`), or the server's per-second rejection (`rejected`): both tune
    the spacing every process applies.
    """

    def __init__(self, where: LedgerAt, api: str, client: str, limits: QuotaLimits) -> None:
        self.where, self.api, self.client, self.limits = where, api, client, limits
        self._lock = threading.Lock()  # one turn at a time on the store's connection
        self._store = open_store(where)
        self.prune()

    def close(self) -> None:
        self._store.close()

    @contextmanager
    def _turn(self) -> Iterator[Turn]:
        with self._lock, self._store.turn(self.api, self.client) as turn:
            yield turn

    def exhausted_by_server(self, retry_after: float) -> QuotaExhausted:
        """The error to raise when the server says our daily budget is spent, although this
        machine's ledger counted less: another user of the same client id spent it."""
        with self._turn() as turn:
            used, now = turn.used(paris_day(turn.now)), turn.now
        resets_at = datetime.fromtimestamp(now + retry_after, PARIS)
        return QuotaExhausted(self.api, used, self.limits.calls_per_day, resets_at, by_server=True)

    def acquire(self) -> Slot:
        """Block until this process may send one call; raise QuotaExhausted if none is left.

        A slot is dated when it is granted (never reserved in the future), so a process
        that stalls before claiming cannot squeeze a later claimant closer than the
        spacing; the caller sends right after.
        """
        while True:
            granted = self._try_claim()
            if isinstance(granted, Slot):
                return granted
            sleep(granted)  # a duration on the store's clock, waited on this one's

    def _try_claim(self) -> Slot | float:
        """Claim a slot now, or return how long to wait before trying again."""
        with self._turn() as turn:
            # The budget first: a spent day fails at once rather than after a wait.
            day = paris_day(turn.now)
            used = turn.used(day)
            if used >= self.limits.calls_per_day:
                raise QuotaExhausted(
                    self.api, used, self.limits.calls_per_day, next_paris_midnight(turn.now)
                )
            if (wait := self._wait(turn)) > 0:
                return wait
            return Slot(turn.grant(day), turn.now, turn.local_at)

    def _wait(self, turn: Turn) -> float:
        """How long before a slot may be granted at the turn's time: 0 when it may."""
        last = turn.last()
        if last is None:
            return 0.0
        at, delay = last
        earliest = at + self._spacing(delay, turn.penalty())
        if delay is None and turn.now < earliest:
            # Its answer may come any moment and shorten the wait: look again soon.
            return min(POLL_SECONDS, earliest - turn.now)
        return max(0.0, earliest - turn.now)

    def spacing(self) -> float:
        """Seconds every process now leaves after the last slot granted."""
        with self._turn() as turn:
            last = turn.last()
            return self._spacing(last[1] if last else 0.0, turn.penalty())

    def _spacing(self, delay: float | None, penalty: float) -> float:
        """1/limit with its margins, plus the previous call's grant-to-answer delay."""
        interval = self.limits.interval
        cap = MAX_DELAY_MARGIN * interval
        delay = cap if delay is None else min(delay, cap)
        return interval * (1 + BASE_MARGIN + penalty) + delay

    def observed(self, slot: Slot, delay: float, rejected: bool = False) -> None:
        """The call of `slot` was answered `delay` seconds after its grant; an answer that
        was not a rejection fades the penalty."""
        with self._turn() as turn:
            turn.set_delay(slot.row, max(0.0, delay))
            if not rejected:
                turn.scale_penalty(PENALTY_DECAY)

    def rejected(self, status: int, detail: str, per_second: bool) -> None:
        """The server refused a call anyway: keep a trace, and widen the spacing if the
        refusal was for the rate (someone else on our client id, or a loaded machine)."""
        with self._turn() as turn:
            turn.reject(status, detail[:500])
            if per_second:
                turn.set_penalty(min(MAX_PENALTY, turn.penalty() + PENALTY_STEP))

    def used_today(self) -> int:
        with self._turn() as turn:
            return turn.used(paris_day(turn.now))

    def remaining_today(self) -> int:
        return max(0, self.limits.calls_per_day - self.used_today())

    def prune(self) -> None:
        with self._turn() as turn:
            turn.prune(turn.now - KEEP_DAYS * 86_400)


def usage_by_client(where: LedgerAt) -> list[Usage]:
    """Calls per (api, client, Paris day), newest day first: what `gazoduc quota` prints."""
    rows = _read(
        where,
        "SELECT api, client, day, count(*) FROM {slots} GROUP BY api, client, day "
        "ORDER BY day DESC, api, client",
    )
    return [Usage(api, client, _as_date(day), n) for api, client, day, n in rows]


def rejection_records(where: LedgerAt, limit: int | None = None) -> list[RecordedRejection]:
    """The server's rejections the ledger kept, newest first."""
    sql = "SELECT api, client, at, status, detail FROM {rejections} ORDER BY at DESC"
    rows = _read(where, sql + " LIMIT ?", (limit,)) if limit is not None else _read(where, sql)
    return [RecordedRejection(*row) for row in rows]


def last_rejections(where: LedgerAt, limit: int = 10) -> list[str]:
    """The server's most recent rejections, as lines for `gazoduc quota`."""
    return [rejection.line() for rejection in rejection_records(where, limit)]


def _as_date(day: date | str) -> date:
    return day if isinstance(day, date) else date.fromisoformat(day)


# --- stores: where the slots are kept, and whose clock dates them -------------------------


@dataclass(frozen=True)
class _Dialect:
    """What the two stores' SQL differs in: table names, the row id, the parameter mark."""

    prefix: str
    row_id: str
    mark: str

    def sql(self, template: str) -> str:
        tables = {name: f"{self.prefix}{name}" for name in ("slots", "rejections", "pace")}
        return template.format(id=self.row_id, **tables).replace("?", self.mark)


SQLITE = _Dialect(prefix="", row_id="rowid", mark="?")
POSTGRES = _Dialect(prefix="gazoduc.quota_", row_id="id", mark="%s")


class Turn:
    """One client's exclusive moment in a store: its reads and writes make one transaction
    that no other claimant of the same client interleaves with. `now` is the store's
    clock once the turn is ours; `local_at` this process's clock no later than that."""

    def __init__(
        self, cursor: Any, dialect: _Dialect, api: str, client: str, now: float, local_at: float
    ) -> None:
        self._cursor, self._dialect = cursor, dialect
        self.api, self.client, self.now, self.local_at = api, client, now, local_at

    def _run(self, template: str, *params: object) -> Any:
        self._cursor.execute(self._dialect.sql(template), params)
        return self._cursor

    def used(self, day: date) -> int:
        sql = "SELECT count(*) FROM {slots} WHERE api = ? AND client = ? AND day = ?"
        return int(self._run(sql, self.api, self.client, day.isoformat()).fetchone()[0])

    def last(self) -> tuple[float, float | None] | None:
        """The last slot granted to this client: when, and its delay once answered."""
        sql = "SELECT at, delay FROM {slots} WHERE api = ? AND client = ? ORDER BY at DESC LIMIT 1"
        return self._run(sql, self.api, self.client).fetchone()

    def penalty(self) -> float:
        sql = "SELECT penalty FROM {pace} WHERE api = ? AND client = ?"
        row = self._run(sql, self.api, self.client).fetchone()
        return float(row[0]) if row else 0.0

    def grant(self, day: date) -> int:
        """A slot dated now: its row."""
        sql = "INSERT INTO {slots} (api, client, day, at) VALUES (?, ?, ?, ?) RETURNING {id}"
        return int(self._run(sql, self.api, self.client, day.isoformat(), self.now).fetchone()[0])

    def set_delay(self, row: int, delay: float) -> None:
        self._run("UPDATE {slots} SET delay = ? WHERE {id} = ?", delay, row)

    def scale_penalty(self, factor: float) -> None:
        sql = "UPDATE {pace} SET penalty = penalty * ? WHERE api = ? AND client = ?"
        self._run(sql, factor, self.api, self.client)

    def set_penalty(self, penalty: float) -> None:
        self._run(
            "INSERT INTO {pace} (api, client, penalty) VALUES (?, ?, ?) "
            "ON CONFLICT (api, client) DO UPDATE SET penalty = excluded.penalty",
            self.api,
            self.client,
            penalty,
        )

    def reject(self, status: int, detail: str) -> None:
        sql = "INSERT INTO {rejections} (api, client, at, status, detail) VALUES (?, ?, ?, ?, ?)"
        self._run(sql, self.api, self.client, self.now, status, detail)

    def prune(self, before: float) -> None:
        """Every client's slots and rejections older than `before`."""
        self._run("DELETE FROM {slots} WHERE at < ?", before)
        self._run("DELETE FROM {rejections} WHERE at < ?", before)


class LedgerStore(Protocol):
    def turn(self, api: str, client: str) -> AbstractContextManager[Turn]: ...

    def close(self) -> None: ...


def open_store(where: LedgerAt) -> LedgerStore:
    return SqliteStore(where) if isinstance(where, Path) else PostgresStore(where)


class SqliteStore:
    """The ledger of one machine: a SQLite file, dated by this machine's clock. A turn is
    an exclusive transaction on the whole file."""

    def __init__(self, path: Path) -> None:
        self._con = _open_sqlite(path)

    @contextmanager
    def turn(self, api: str, client: str) -> Iterator[Turn]:
        con = self._con
        con.execute("BEGIN IMMEDIATE")
        try:
            now = clock()  # read inside the lock: a slow lock wait must not date the slot
            yield Turn(con.cursor(), SQLITE, api, client, now, now)
            con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:  # a failed COMMIT too: never leave it open
                con.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self._con.close()


_SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS slots (
    api TEXT NOT NULL, client TEXT NOT NULL, day TEXT NOT NULL, at REAL NOT NULL,
    delay REAL
);
CREATE INDEX IF NOT EXISTS slots_by_client ON slots (api, client, at);
CREATE INDEX IF NOT EXISTS slots_by_day ON slots (api, client, day);
CREATE TABLE IF NOT EXISTS rejections (
    api TEXT NOT NULL, client TEXT NOT NULL, at REAL NOT NULL, status INTEGER NOT NULL,
    detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS pace (
    api TEXT NOT NULL, client TEXT NOT NULL, penalty REAL NOT NULL,
    PRIMARY KEY (api, client)
);
"""
# Ledgers written before the observed delay was kept gain its column in place.
_MIGRATIONS = {("slots", "delay"): "ALTER TABLE slots ADD COLUMN delay REAL"}


def _open_sqlite(path: Path) -> sqlite3.Connection:
    """One connection per ledger, kept open: opening the file per call costs time between
    a grant and its send. WAL with synchronous=NORMAL commits without an fsync (the
    slow, load-dependent part); a power cut may forget the last slots, never corrupt."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute("PRAGMA busy_timeout=60000")
    con.executescript(_SQLITE_SCHEMA)
    for (table, column), statement in _MIGRATIONS.items():
        columns = {row[1] for row in con.execute(f"PRAGMA table_info({table})")}
        if column not in columns:
            con.execute(statement)
    return con


class PostgresStore:
    """The ledger of every machine: the `gazoduc` schema of the shared database, dated by
    the database's clock (`clock_timestamp()`), never a machine's. A turn is a
    transaction holding the client's advisory lock until it commits."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._con = self._connect()

    def _connect(self) -> Any:
        try:
            con = _connect_postgres(self.url)
            _create_postgres_schema(con)
            return con
        except psycopg2.Error as error:
            raise LedgerError(self.url, error) from None

    @contextmanager
    def turn(self, api: str, client: str) -> Iterator[Turn]:
        try:
            cursor = self._locked(api, client)
            with self._con, cursor:  # commits on leaving, or rolls back
                # Read before the database reads its clock: a delay measured from it is an
                # upper bound of the call's, without the wait for the lock.
                local_at = clock()
                yield Turn(cursor, POSTGRES, api, client, self._now(cursor), local_at)
        except psycopg2.Error as error:
            raise LedgerError(self.url, error) from None

    def _locked(self, api: str, client: str) -> Any:
        """A cursor whose transaction holds the client's lock. A connection lost since the
        last turn (a database restart) is made again, once: nothing of this turn was done."""
        try:
            return self._lock(api, client)
        except psycopg2.OperationalError:
            if not self._con.closed:
                raise
            return self._lock(api, client)

    def _lock(self, api: str, client: str) -> Any:
        if self._con.closed:
            self._con = self._connect()
        cursor = self._con.cursor()
        try:
            # Claimants of one client queue here; READ COMMITTED, so once the lock is ours
            # each statement sees every slot the previous holder committed.
            cursor.execute(_CLIENT_LOCK, (f"{api}/{client}",))
        except psycopg2.Error:
            if not self._con.closed:
                self._con.rollback()
            raise
        return cursor

    @staticmethod
    def _now(cursor: Any) -> float:
        """The database's clock, read once the lock is ours: a lock wait never dates a slot."""
        cursor.execute("SELECT extract(epoch FROM clock_timestamp())::float8")
        return float(cursor.fetchone()[0])

    def close(self) -> None:
        self._con.close()


# Two-key advisory locks: a key space of their own, apart from single-key ones.
_CLIENT_LOCK = "SELECT pg_advisory_xact_lock(hashtext('gazoduc quota'), hashtext(%s))"
_SCHEMA_LOCK = "SELECT pg_advisory_xact_lock(hashtext('gazoduc schema'))"
# Epoch seconds of the database's clock, as the SQLite ledger keeps them: one set of rules.
_POSTGRES_SCHEMA = """
CREATE SCHEMA IF NOT EXISTS gazoduc;
CREATE TABLE IF NOT EXISTS gazoduc.quota_slots (
    id bigserial PRIMARY KEY, api text NOT NULL, client text NOT NULL, day date NOT NULL,
    at double precision NOT NULL, delay double precision
);
CREATE INDEX IF NOT EXISTS quota_slots_by_client ON gazoduc.quota_slots (api, client, at);
CREATE INDEX IF NOT EXISTS quota_slots_by_day ON gazoduc.quota_slots (api, client, day);
CREATE INDEX IF NOT EXISTS quota_slots_by_age ON gazoduc.quota_slots (at);
CREATE TABLE IF NOT EXISTS gazoduc.quota_rejections (
    api text NOT NULL, client text NOT NULL, at double precision NOT NULL,
    status integer NOT NULL, detail text NOT NULL
);
CREATE INDEX IF NOT EXISTS quota_rejections_by_age ON gazoduc.quota_rejections (at);
CREATE TABLE IF NOT EXISTS gazoduc.quota_pace (
    api text NOT NULL, client text NOT NULL, penalty double precision NOT NULL,
    PRIMARY KEY (api, client)
);
"""


def _connect_postgres(url: str) -> Any:
    """synchronous_commit off: a turn commits without waiting for the WAL's flush (the
    slow, load-dependent part, counted in every call's delay). Other sessions see the
    slot at once all the same; a crash of the database may forget its last slots, as
    SQLite's synchronous=NORMAL does, never corrupt the ledger."""
    con = psycopg2.connect(url, connect_timeout=10, application_name="gazoduc quota ledger")
    con.set_session(isolation_level="READ COMMITTED", autocommit=True)
    with con.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO off")
    con.autocommit = False
    return con


def _create_postgres_schema(con: Any) -> None:
    """Idempotent. Processes starting at once would race on the catalog (CREATE … IF NOT
    EXISTS is not atomic: one fails on a duplicate key): they take turns instead."""
    with con, con.cursor() as cursor:
        cursor.execute(_SCHEMA_LOCK)
        cursor.execute(_POSTGRES_SCHEMA)


def _read(where: LedgerAt, template: str, params: tuple = ()) -> list[tuple]:
    """Rows of the ledger, read only: none while it does not exist yet."""
    if isinstance(where, Path):
        return _read_sqlite(where, SQLITE.sql(template), params)
    return _read_postgres(where, POSTGRES.sql(template), params)


def _read_sqlite(path: Path, sql: str, params: tuple) -> list[tuple]:
    if not path.exists():
        return []
    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=60)
        try:
            return con.execute(sql, params).fetchall()
        finally:
            con.close()
    except sqlite3.Error as error:  # created but its schema not yet written, or damaged
        raise LedgerError(path, error) from None


def _read_postgres(url: str, sql: str, params: tuple) -> list[tuple]:
    try:
        con = _connect_postgres(url)
        try:
            with con, con.cursor() as cursor:
                cursor.execute(sql, params)
                return cursor.fetchall()
        finally:
            con.close()
    except psycopg2.errors.UndefinedTable:  # no gazoduc process has taken a slot there yet
        return []
    except psycopg2.Error as error:
        raise LedgerError(url, error) from None
