"""The quota ledger: one SQLite file that every gazoduc process on the machine goes through.

ADICT counts calls per client across *all* of that client's runs (1 call/s, 6,000 to
240,000 a day). A backfill, the daily schedule and a CLI command running side by side
must therefore take their calls from one shared place: each call first claims a slot
here, inside an exclusive SQLite transaction, so two processes can never claim slots
closer than 1/limit seconds apart, nor more than the daily budget.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")

# Slots are claimed this much further apart than 1/limit: the server measures arrival
# times, and a request can take a few milliseconds longer to arrive than its neighbour.
SPACING_MARGIN = 0.02
# Slots older than this are pruned when a ledger is opened.
KEEP_DAYS = 8


def clock() -> float:
    """Wall-clock seconds, shared by every process; tests move it across Paris midnight."""
    return time.time()


_SCHEMA = """
CREATE TABLE IF NOT EXISTS slots (
    api TEXT NOT NULL, client TEXT NOT NULL, day TEXT NOT NULL, at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS slots_by_client ON slots (api, client, at);
CREATE INDEX IF NOT EXISTS slots_by_day ON slots (api, client, day);
CREATE TABLE IF NOT EXISTS rejections (
    api TEXT NOT NULL, client TEXT NOT NULL, at REAL NOT NULL, status INTEGER NOT NULL,
    detail TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class QuotaLimits:
    calls_per_second: float
    calls_per_day: int

    @property
    def spacing_seconds(self) -> float:
        return (1.0 / self.calls_per_second) * (1.0 + SPACING_MARGIN)


class QuotaExhausted(RuntimeError):
    """Today's budget is spent; carries when it resets so callers can say so."""

    def __init__(self, api: str, used: int, limit: int, resets_at: datetime) -> None:
        self.api, self.used, self.limit, self.resets_at = api, used, limit, resets_at
        super().__init__(
            f"{api}: {used:,} of {limit:,} calls used today; "
            f"resumes after {resets_at:%Y-%m-%d %H:%M} Europe/Paris"
        )


@dataclass(frozen=True)
class Usage:
    api: str
    client: str
    day: date
    used: int


def ledger_path(state_dir: Path) -> Path:
    return state_dir / "quota.sqlite"


def paris_day(epoch_seconds: float) -> date:
    return datetime.fromtimestamp(epoch_seconds, PARIS).date()


def next_paris_midnight(epoch_seconds: float) -> datetime:
    tomorrow = paris_day(epoch_seconds) + timedelta(days=1)
    return datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=PARIS)


class QuotaLedger:
    """Claims call slots for one (api, client id) under the given limits."""

    def __init__(self, path: Path, api: str, client: str, limits: QuotaLimits) -> None:
        self.path, self.api, self.client, self.limits = path, api, client, limits
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connection() as con:
            con.executescript(_SCHEMA)
            con.execute("PRAGMA journal_mode=WAL")
        self.prune()

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        try:
            yield con
        finally:
            con.close()

    def exhausted_by_server(self, retry_after: float) -> QuotaExhausted:
        """The error to raise when the server says our daily budget is spent."""
        now = clock()
        return QuotaExhausted(
            self.api,
            self.used_today(),
            self.limits.calls_per_day,
            datetime.fromtimestamp(now + retry_after, PARIS),
        )

    def acquire(self) -> None:
        """Block until this process may send one call; raise QuotaExhausted if none is left.

        A slot is recorded at the moment it is granted (not reserved in the future), so a
        process that stalls after claiming cannot squeeze a later claimant closer than
        the spacing.
        """
        while True:
            wait = self._try_claim()
            if wait <= 0:
                return
            time.sleep(wait)

    def _try_claim(self) -> float:
        """Claim a slot now and return 0, or return how long to wait before trying."""
        with self._connection() as con:
            con.execute("BEGIN IMMEDIATE")
            now = clock()  # read inside the lock: a slow lock wait must not date the slot
            try:
                # The budget first: a spent day fails at once rather than after a wait.
                day = paris_day(now).isoformat()
                used = self._used(con, day)
                if used >= self.limits.calls_per_day:
                    raise QuotaExhausted(
                        self.api, used, self.limits.calls_per_day, next_paris_midnight(now)
                    )
                (last,) = con.execute(
                    "SELECT max(at) FROM slots WHERE api = ? AND client = ?",
                    (self.api, self.client),
                ).fetchone()
                if last is not None and now < last + self.limits.spacing_seconds:
                    return last + self.limits.spacing_seconds - now
                con.execute(
                    "INSERT INTO slots (api, client, day, at) VALUES (?, ?, ?, ?)",
                    (self.api, self.client, day, now),
                )
                return 0.0
            finally:
                con.execute("COMMIT")

    def _used(self, con: sqlite3.Connection, day: str) -> int:
        (used,) = con.execute(
            "SELECT count(*) FROM slots WHERE api = ? AND client = ? AND day = ?",
            (self.api, self.client, day),
        ).fetchone()
        return int(used)

    def used_today(self) -> int:
        with self._connection() as con:
            return self._used(con, paris_day(clock()).isoformat())

    def remaining_today(self) -> int:
        return max(0, self.limits.calls_per_day - self.used_today())

    def record_rejection(self, status: int, detail: str) -> None:
        """Keep a trace of a call the server rejected anyway (someone else on our client id)."""
        with self._connection() as con:
            con.execute(
                "INSERT INTO rejections (api, client, at, status, detail) VALUES (?, ?, ?, ?, ?)",
                (self.api, self.client, clock(), status, detail[:500]),
            )

    def prune(self) -> None:
        cutoff = clock() - KEEP_DAYS * 86_400
        with self._connection() as con:
            con.execute("DELETE FROM slots WHERE at < ?", (cutoff,))
            con.execute("DELETE FROM rejections WHERE at < ?", (cutoff,))


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
