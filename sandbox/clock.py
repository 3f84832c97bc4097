"""The sandbox's notion of "today": the Europe/Paris civil date, frozen on demand.

Every ADICT rule that mentions "la date du jour" (history limits, availability lags,
provisional versus definitive data, daily quotas) reads this clock, so a test can
replay any day by setting it.
"""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")


class SandboxClock:
    """Paris date, real by default; `set(day)` freezes it, `set(None)` unfreezes."""

    def __init__(self, today: date | None = None) -> None:
        self._fixed = today
        self._lock = threading.Lock()

    def today(self) -> date:
        with self._lock:
            fixed = self._fixed
        return fixed or datetime.now(PARIS).date()

    def set(self, today: date | None) -> None:
        with self._lock:
            self._fixed = today

    @staticmethod
    def seconds_until_paris_midnight() -> int:
        """Real seconds until the next Paris midnight, when daily budgets renew."""
        now = datetime.now(PARIS)
        midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), PARIS)
        # Through timestamps: subtracting two Paris datetimes ignores a DST change.
        return max(1, int(midnight.timestamp() - now.timestamp()) + 1)
