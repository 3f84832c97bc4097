"""Partitions, declared once: the gas day (06:00 Europe/Paris) and the calendar month."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

PARIS = ZoneInfo("Europe/Paris")
GAS_DAY_START_HOUR = 6

# The first keys shown in the UI; GRDF's rolling history limits (3 and 5 years) decide
# what can still be fetched, and the planner clips to them.
GAS_DAY_START = "2023-01-01"
MONTH_START = "2021-01-01"

# Gas day D runs from D 06:00 to D+1 06:00 Europe/Paris, so its partition closes at 06:00.
gas_days = dg.DailyPartitionsDefinition(
    start_date=GAS_DAY_START, timezone="Europe/Paris", hour_offset=GAS_DAY_START_HOUR
)
# SFM serves the current gas day (indicators, programs being declared) and the next one
# (programs declared the day before): its partitions reach one day past today's.
gas_days_ahead = dg.DailyPartitionsDefinition(
    start_date=GAS_DAY_START, timezone="Europe/Paris", hour_offset=GAS_DAY_START_HOUR, end_offset=2
)
months = dg.MonthlyPartitionsDefinition(start_date=MONTH_START, timezone="Europe/Paris")


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
