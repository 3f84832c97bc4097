"""The quota ledger: one SQLite file that every gazoduc process on the machine goes through.

ADICT counts calls per client across *all* of that client's runs (1 call/s, 6,000 to
240,000 a day). A backfill, the daily schedule and a CLI command running side by side
must therefore take their calls from one shared place: each call first claims a slot
here, inside an exclusive SQLite transaction, so two processes can never claim slots
closer than 1/limit seconds apart, nor more than the daily budget.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

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


def clock() -> float:
    """Wall-clock seconds, shared by every process; tests move it (across Paris midnight)."""
    return time.time()


def sleep(seconds: float) -> None:
    """Waiting for a slot; tests replace it with a clock they move."""
    time.sleep(seconds)


_SCHEMA = """
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


@dataclass(frozen=True)
class Usage:
    api: str
    client: str
    day: date
    used: int


@dataclass(frozen=True)
class Slot:
    """A granted call: the ledger row and the moment it was granted (ledger clock)."""

    row: int
    at: float


def ledger_path(state_dir: Path) -> Path:
    return state_dir / "quota.sqlite"


def paris_day(epoch_seconds: float) -> date:
    return datetime.fromtimestamp(epoch_seconds, PARIS).date()


def next_paris_midnight(epoch_seconds: float) -> datetime:
    tomorrow = paris_day(epoch_seconds) + timedelta(days=1)
    return datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=PARIS)


class QuotaLedger:
    """Claims call slots for one (api, client id) under the given limits.

    One SQLite file for every process of the machine. A slot is granted inside an
    exclusive transaction and dated then; the caller sends at once and reports the delay
    it observed (`observed`), or the server's per-second rejection (`rejected`): both
    tune the spacing every process applies.
    """

    def __init__(self, path: Path, api: str, client: str, limits: QuotaLimits) -> None:
        self.path, self.api, self.client, self.limits = path, api, client, limits
        self._lock = threading.Lock()
        self._con = _open(path)
        self.prune()

    def close(self) -> None:
        self._con.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._con.execute("BEGIN IMMEDIATE")
            try:
                yield self._con
                self._con.execute("COMMIT")
            except BaseException:
                if self._con.in_transaction:  # a failed COMMIT too: never leave it open
                    self._con.execute("ROLLBACK")
                raise

    def exhausted_by_server(self, retry_after: float) -> QuotaExhausted:
        """The error to raise when the server says our daily budget is spent, although this
        machine's ledger counted less: another user of the same client id spent it."""
        resets_at = datetime.fromtimestamp(clock() + retry_after, PARIS)
        return QuotaExhausted(
            self.api, self.used_today(), self.limits.calls_per_day, resets_at, by_server=True
        )

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
            sleep(granted)

    def _try_claim(self) -> Slot | float:
        """Claim a slot now, or return how long to wait before trying again."""
        with self._transaction() as con:
            now = clock()  # read inside the lock: a slow lock wait must not date the slot
            # The budget first: a spent day fails at once rather than after a wait.
            day = paris_day(now).isoformat()
            used = self._used(con, day)
            if used >= self.limits.calls_per_day:
                raise QuotaExhausted(
                    self.api, used, self.limits.calls_per_day, next_paris_midnight(now)
                )
            if (wait := self._wait(con, now)) > 0:
                return wait
            cursor = con.execute(
                "INSERT INTO slots (api, client, day, at) VALUES (?, ?, ?, ?)",
                (self.api, self.client, day, now),
            )
            return Slot(int(cursor.lastrowid or 0), now)

    def _wait(self, con: sqlite3.Connection, now: float) -> float:
        """How long before a slot may be granted at `now`: 0 when it may."""
        last = self._last(con)
        if last is None:
            return 0.0
        at, delay = last
        earliest = at + self._spacing(con, delay)
        if delay is None and now < earliest:
            # Its answer may come any moment and shorten the wait: look again soon.
            return min(POLL_SECONDS, earliest - now)
        return max(0.0, earliest - now)

    def _last(self, con: sqlite3.Connection) -> tuple[float, float | None] | None:
        """The last slot granted to this client: when, and its delay once answered."""
        return con.execute(
            "SELECT at, delay FROM slots WHERE api = ? AND client = ? ORDER BY at DESC LIMIT 1",
            (self.api, self.client),
        ).fetchone()

    def spacing(self) -> float:
        """Seconds every process now leaves after the last slot granted."""
        with self._lock:
            last = self._last(self._con)
            return self._spacing(self._con, last[1] if last else 0.0)

    def _spacing(self, con: sqlite3.Connection, delay: float | None) -> float:
        """1/limit with its margins, plus the previous call's grant-to-answer delay."""
        interval = self.limits.interval
        cap = MAX_DELAY_MARGIN * interval
        delay = cap if delay is None else min(delay, cap)
        return interval * (1 + BASE_MARGIN + self._penalty(con)) + delay

    def _penalty(self, con: sqlite3.Connection) -> float:
        row = con.execute(
            "SELECT penalty FROM pace WHERE api = ? AND client = ?", (self.api, self.client)
        ).fetchone()
        return float(row[0]) if row else 0.0

    def observed(self, slot: Slot, delay: float, rejected: bool = False) -> None:
        """The call of `slot` was answered `delay` seconds after its grant; an answer that
        was not a rejection fades the penalty."""
        with self._transaction() as con:
            con.execute("UPDATE slots SET delay = ? WHERE rowid = ?", (max(0.0, delay), slot.row))
            if not rejected:
                con.execute(
                    "UPDATE pace SET penalty = penalty * ? WHERE api = ? AND client = ?",
                    (PENALTY_DECAY, self.api, self.client),
                )

    def rejected(self, status: int, detail: str, per_second: bool) -> None:
        """The server refused a call anyway: keep a trace, and widen the spacing if the
        refusal was for the rate (someone else on our client id, or a loaded machine)."""
        with self._transaction() as con:
            con.execute(
                "INSERT INTO rejections (api, client, at, status, detail) VALUES (?, ?, ?, ?, ?)",
                (self.api, self.client, clock(), status, detail[:500]),
            )
            if per_second:
                penalty = min(MAX_PENALTY, self._penalty(con) + PENALTY_STEP)
                con.execute(
                    "INSERT INTO pace (api, client, penalty) VALUES (?, ?, ?) "
                    "ON CONFLICT (api, client) DO UPDATE SET penalty = excluded.penalty",
                    (self.api, self.client, penalty),
                )

    def _used(self, con: sqlite3.Connection, day: str) -> int:
        (used,) = con.execute(
            "SELECT count(*) FROM slots WHERE api = ? AND client = ? AND day = ?",
            (self.api, self.client, day),
        ).fetchone()
        return int(used)

    def used_today(self) -> int:
        with self._lock:
            return self._used(self._con, paris_day(clock()).isoformat())

    def remaining_today(self) -> int:
        return max(0, self.limits.calls_per_day - self.used_today())

    def prune(self) -> None:
        cutoff = clock() - KEEP_DAYS * 86_400
        with self._transaction() as con:
            con.execute("DELETE FROM slots WHERE at < ?", (cutoff,))
            con.execute("DELETE FROM rejections WHERE at < ?", (cutoff,))


def _open(path: Path) -> sqlite3.Connection:
    """One connection per ledger, kept open: opening the file per call costs time between
    a grant and its send. WAL with synchronous=NORMAL commits without an fsync (the
    slow, load-dependent part); a power cut may forget the last slots, never corrupt."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute("PRAGMA busy_timeout=60000")
    con.executescript(_SCHEMA)
    for (table, column), statement in _MIGRATIONS.items():
        columns = {row[1] for row in con.execute(f"PRAGMA table_info({table})")}
        if column not in columns:
            con.execute(statement)
    return con


def usage_by_client(path: Path) -> list[Usage]:
    """Calls per (api, client, Paris day), newest day first: what `gazoduc quota` prints."""
    if not path.exists():
        return []
    con = sqlite3.connect(path, timeout=60)
    try:
        rows = con.execute(
            "SELECT api, client, day, count(*) FROM slots GROUP BY api, client, day "
            "ORDER BY day DESC, api, client"
        ).fetchall()
    finally:
        con.close()
    return [Usage(api, client, date.fromisoformat(day), n) for api, client, day, n in rows]


def last_rejections(path: Path, limit: int = 10) -> list[str]:
    """The server's most recent rejections, as lines for `gazoduc quota`."""
    if not path.exists():
        return []
    con = sqlite3.connect(path, timeout=60)
    try:
        rows = con.execute(
            "SELECT api, client, at, status, detail FROM rejections ORDER BY at DESC LIMIT ?",
            (limit,),
        ).fetchall()
    finally:
        con.close()
    return [
        f"{datetime.fromtimestamp(at, PARIS):%Y-%m-%d %H:%M:%S} {api} {client} "
        f"HTTP {status} {detail[:80]}"
        for api, client, at, status, detail in rows
    ]
