"""What every source's assets share: the run's gas days, and the call figures they report."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import dagster as dg

from pipelines.partitions import gas_day_of
from resources.http import ApiCaller


def partition_days(context: dg.AssetExecutionContext) -> tuple[date, date]:
    """First and last gas day of the run's partition range (one key or a backfill range)."""
    window = context.partition_time_window
    return window.start.date(), (window.end - timedelta(days=1)).date()


def last_closed_gas_day(now: datetime) -> date:
    """The latest gas day that has ended (gas day D closes at 06:00 Paris on D+1)."""
    return gas_day_of(now) - timedelta(days=1)


def call_metadata(caller: ApiCaller) -> dict[str, dg.MetadataValue]:
    """Calls this run spent and what today's budget still allows, for the Dagster UI."""
    stats = caller.stats
    return {
        "calls_spent": dg.MetadataValue.int(stats.sent),
        "calls_retried": dg.MetadataValue.int(stats.retried),
        "calls_left_today": dg.MetadataValue.int(caller.ledger.remaining_today()),
    }
