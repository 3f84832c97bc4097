"""The gas day and its calendar, needing nothing but the standard library.

Gas day D runs from D 06:00 to D+1 06:00 Europe/Paris. The warehouse partitions and
replaces rows by gas day and month, so it needs these without Dagster or the API clients;
`pipelines/partitions.py` re-exports them beside the Dagster partitions definitions.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")
GAS_DAY_START_HOUR = 6


def gas_day_of(moment: datetime) -> date:
    """The gas day an instant belongs to."""
    return (moment.astimezone(PARIS) - timedelta(hours=GAS_DAY_START_HOUR)).date()


def paris_today() -> date:
    return datetime.now(PARIS).date()


def month_key(day: date) -> str:
    return f"{day:%Y-%m}"


def month_bounds(key: str) -> tuple[date, date]:
    """First and last day of a month partition key ("2026-10-01" or "2026-10")."""
    first = date.fromisoformat(key[:7] + "-01")
    following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return first, following - timedelta(days=1)


def window_minus(window: tuple[date, date], cut: tuple[date, date]) -> list[tuple[date, date]]:
    """What remains of `window` once the days of `cut` are taken out (0, 1 or 2 pieces)."""
    (a, b), (c, d) = window, cut
    if d < a or c > b:
        return [window]
    pieces = []
    if a < c:
        pieces.append((a, c - timedelta(days=1)))
    if d < b:
        pieces.append((d + timedelta(days=1), b))
    return pieces
