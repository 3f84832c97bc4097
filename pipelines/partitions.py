"""Partitions, declared once: the gas day (06:00 Europe/Paris) and the calendar month."""

from __future__ import annotations

import dagster as dg

# The gas-day calendar lives with the warehouse, which must not import Dagster.
from warehouse.gasday import (
    GAS_DAY_START_HOUR,
    PARIS,
    gas_day_of,
    month_bounds,
    month_key,
    paris_today,
)

__all__ = [
    "GAS_DAY_START_HOUR",
    "PARIS",
    "gas_day_of",
    "gas_days",
    "gas_days_ahead",
    "month_bounds",
    "month_key",
    "months",
    "paris_today",
]

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
