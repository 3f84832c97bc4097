"""When each ADICT asset is refreshed, in Europe/Paris, following GRDF's publication
calendar; and how far back each refresh re-reads, so restated data replaces old rows at
no extra quota (one call per PCE covers the whole re-read window)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import dagster as dg

TIMEZONE = "Europe/Paris"
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"
# Published data can be rectified for a few months: the monthly run re-reads them.
PUBLISHED_REREAD_MONTHS = 3
_ACTIVE = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]

rights_job = dg.define_asset_job("adict_access_rights", selection="adict/access_rights")
informative_job = dg.define_asset_job(
    "adict_informative", selection="adict/informative_consumption"
)
published_job = dg.define_asset_job(
    "adict_published",
    selection=dg.AssetSelection.assets(
        ["adict", "published_consumption"], ["adict", "published_injection"]
    ),
)
documents_job = dg.define_asset_job(
    "adict_documents",
    selection=dg.AssetSelection.assets(["adict", "contractual_data"], ["adict", "technical_data"]),
)


def informative_refresh_window(today: date) -> tuple[date, date]:
    """From the first day of the previous month to yesterday: provisional days of last
    month turn definitive (with another energy) in the first working days of this one."""
    previous_month = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    return previous_month, today - timedelta(days=1)


def published_refresh_months(today: date) -> tuple[str, str]:
    """The last complete month and the ones before it that can still be rectified."""
    last = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    index = last.year * 12 + last.month - 1 - (PUBLISHED_REREAD_MONTHS - 1)
    first = date(index // 12, index % 12 + 1, 1)
    return first.isoformat(), last.isoformat()


def _busy(context: dg.ScheduleEvaluationContext, job_name: str) -> bool:
    runs = context.instance.get_run_records(
        dg.RunsFilter(job_name=job_name, statuses=_ACTIVE), limit=1
    )
    return bool(runs)


def _tick_day(context: dg.ScheduleEvaluationContext) -> date:
    moment = context.scheduled_execution_time or datetime.now()
    return moment.date()


# Rights first (06:30): the consumption runs plan their calls from today's snapshot.
@dg.schedule(cron_schedule="30 6 * * *", job=rights_job, execution_timezone=TIMEZONE)
def adict_rights_daily(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    if _busy(context, rights_job.name):
        return dg.SkipReason("the previous access-rights run is still going")
    return dg.RunRequest(run_key=_tick_day(context).isoformat())


# JJ meters are published at D+1 from 15:00.
@dg.schedule(cron_schedule="30 15 * * *", job=informative_job, execution_timezone=TIMEZONE)
def adict_informative_daily(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    if _busy(context, informative_job.name):
        return dg.SkipReason("the previous informative run is still going")
    first, last = informative_refresh_window(_tick_day(context))
    return dg.RunRequest(
        run_key=last.isoformat(),
        tags={RANGE_START: first.isoformat(), RANGE_END: last.isoformat()},
    )


# Published data and C&T: monthly, after GRDF's 7th working day (the 10th is past it).
@dg.schedule(cron_schedule="0 7 10 * *", job=published_job, execution_timezone=TIMEZONE)
def adict_published_monthly(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    if _busy(context, published_job.name):
        return dg.SkipReason("the previous published run is still going")
    first, last = published_refresh_months(_tick_day(context))
    return dg.RunRequest(run_key=last, tags={RANGE_START: first, RANGE_END: last})


@dg.schedule(cron_schedule="0 9 10 * *", job=documents_job, execution_timezone=TIMEZONE)
def adict_documents_monthly(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    if _busy(context, documents_job.name):
        return dg.SkipReason("the previous contractual/technical run is still going")
    return dg.RunRequest(run_key=_tick_day(context).strftime("%Y-%m"))


JOBS = [rights_job, informative_job, published_job, documents_job]
SCHEDULES = [
    adict_rights_daily,
    adict_informative_daily,
    adict_published_monthly,
    adict_documents_monthly,
]
