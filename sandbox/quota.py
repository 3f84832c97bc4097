"""Server-side quotas of ADICT's contract annex 4, plus the log of every data call.

Per client, all endpoints together: a per-second rate (a sliding one-second window
over accepted calls) and a daily budget that renews at Paris midnight. "Two calls in
the same second: one of them errors": the rejected call gets a 429 and, as upstream,
does not consume the daily budget.
"""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict, deque
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from sandbox.clock import SandboxClock


@dataclass(frozen=True)
class CallRecord:
    """One request to a data endpoint, accepted or not (the token endpoint is not logged)."""

    client_id: str | None
    method: str
    path: str
    query: dict[str, str | list[str]]
    time: float  # time.time()
    status: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Rejection:
    retry_after: int  # whole seconds, at least 1, for the Retry-After header
    message: str


class ServerQuota:
    """Thread-safe rate and daily budget per client id, and the call log."""

    def __init__(
        self, calls_per_second: float, calls_per_day: int, clock: SandboxClock | None = None
    ) -> None:
        self.calls_per_second = calls_per_second
        self.calls_per_day = calls_per_day
        self.clock = clock or SandboxClock()
        self._lock = threading.Lock()
        self._recent: dict[str, deque[float]] = defaultdict(deque)
        self._daily: dict[tuple[str, date], int] = defaultdict(int)
        self._log: list[CallRecord] = []

    def try_acquire(self, client_id: str) -> Rejection | None:
        """Count one call for `client_id`, or say why it must be refused."""
        with self._lock:
            day_key = (client_id, self.clock.today())
            if self._daily[day_key] >= self.calls_per_day:
                return Rejection(
                    SandboxClock.seconds_until_paris_midnight(),
                    f"Quota journalier de {self.calls_per_day} appels dépassé.",
                )
            now = time.monotonic()
            recent = self._recent[client_id]
            while recent and now - recent[0] >= 1.0:
                recent.popleft()
            if len(recent) >= self.calls_per_second:
                wait = recent[0] + 1.0 - now
                return Rejection(
                    max(1, math.ceil(wait)),
                    f"Quota de {self.calls_per_second:g} appel(s) par seconde dépassé.",
                )
            recent.append(now)
            self._daily[day_key] += 1
            return None

    def used_today(self, client_id: str) -> int:
        with self._lock:
            return self._daily[(client_id, self.clock.today())]

    def log_call(self, record: CallRecord) -> None:
        with self._lock:
            self._log.append(record)

    def calls(self) -> list[CallRecord]:
        with self._lock:
            return list(self._log)

    def reset(self) -> None:
        """Forget the call log and every counter (the configuration stays)."""
        with self._lock:
            self._recent.clear()
            self._daily.clear()
            self._log.clear()
