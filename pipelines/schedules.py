"""When each asset is refreshed, in Europe/Paris, following each source's publication
calendar; and how far back each refresh re-reads, so restated data replaces old rows at
no extra quota (one ADICT call per PCE, one Ingrid call per month, cover the whole
re-read window)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import dagster as dg

from pipelines.partitions import gas_day_of
from resources.ingrid_endpoints import ENDPOINTS as INGRID_ENDPOINTS
from resources.settings import read
from resources.warehouse import WarehouseResource
from warehouse.maintenance import maintain

TIMEZONE = "Europe/Paris"
TickFunction = Callable[[dg.ScheduleEvaluationContext], dg.RunRequest]
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

ingrid_days_job = dg.define_asset_job(
    "ingrid_days",
    selection=dg.AssetSelection.assets(*(["ingrid", e.name] for e in INGRID_ENDPOINTS if e.dated)),
)
ingrid_reference_job = dg.define_asset_job(
    "ingrid_reference",
    selection=dg.AssetSelection.assets(
        *(["ingrid", e.name] for e in INGRID_ENDPOINTS if not e.dated)
    ),
)

sfm_indicators_job = dg.define_asset_job("sfm_indicators", selection="sfm/flexibility_indicators")
sfm_programs_job = dg.define_asset_job(
    "sfm_programs",
    selection=dg.AssetSelection.assets(["sfm", "hms_profiles"], ["sfm", "rebuilt_hms_profiles"]),
)


@dg.op
def maintain_warehouse(warehouse: WarehouseResource) -> None:
    """`gazoduc warehouse maintain`, as an op (warehouse/maintenance.py)."""
    retention = timedelta(days=read("GAZODUC_SNAPSHOT_RETENTION_DAYS"))
    done = maintain(warehouse.lake(), retention)
    log = dg.get_dagster_logger()
    for line in done.lines():
        log.info(line)


@dg.job
def warehouse_maintenance() -> None:
    maintain_warehouse()


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


def ingrid_refresh_window(today: date, reread_days: int) -> tuple[date, date]:
    """The last `reread_days` closed gas days: yesterday's, plus the ones GRTgaz may
    still correct (one call per resource covers them all)."""
    return today - timedelta(days=reread_days), today - timedelta(days=1)


def previous_month(today: date) -> tuple[date, date]:
    last = today.replace(day=1) - timedelta(days=1)
    return last.replace(day=1), last


def range_request(run_key: str, first: date, last: date) -> dg.RunRequest:
    """One run over a range of gas-day partitions: what a single-run backfill launches."""
    return dg.RunRequest(
        run_key=run_key, tags={RANGE_START: first.isoformat(), RANGE_END: last.isoformat()}
    )


def _one_run_at_a_time(
    cron_schedule: str, job: dg.UnresolvedAssetJobDefinition | dg.JobDefinition
) -> Callable[[TickFunction], dg.ScheduleDefinition]:
    """`dg.schedule` in Europe/Paris that skips its tick while the previous run of its job
    is still going (queued or running): a slow backfill never gets a second copy."""

    def decorate(evaluate: TickFunction) -> dg.ScheduleDefinition:
        @functools.wraps(evaluate)
        def guarded(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
            if _busy(context, job.name):
                return dg.SkipReason(f"the previous {job.name} run is still going")
            return evaluate(context)

        return dg.schedule(cron_schedule=cron_schedule, job=job, execution_timezone=TIMEZONE)(
            guarded
        )

    return decorate


def _busy(context: dg.ScheduleEvaluationContext, job_name: str) -> bool:
    runs = context.instance.get_run_records(
        dg.RunsFilter(job_name=job_name, statuses=_ACTIVE), limit=1
    )
    return bool(runs)


def _tick_day(context: dg.ScheduleEvaluationContext) -> date:
    moment = context.scheduled_execution_time or datetime.now()
    return moment.date()


# Rights first (06:30): the consumption runs plan their calls from today's snapshot.
@_one_run_at_a_time("30 6 * * *", rights_job)
def adict_rights_daily(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    return dg.RunRequest(run_key=_tick_day(context).isoformat())


# JJ meters are published at D+1 from 15:00.
@_one_run_at_a_time("30 15 * * *", informative_job)
def adict_informative_daily(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    first, last = informative_refresh_window(_tick_day(context))
    return range_request(last.isoformat(), first, last)


# Published data and C&T: monthly, after GRDF's 7th working day (the 10th is past it).
@_one_run_at_a_time("0 7 10 * *", published_job)
def adict_published_monthly(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    first, last = published_refresh_months(_tick_day(context))
    return dg.RunRequest(run_key=last, tags={RANGE_START: first, RANGE_END: last})


@_one_run_at_a_time("0 9 10 * *", documents_job)
def adict_documents_monthly(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    return dg.RunRequest(run_key=_tick_day(context).strftime("%Y-%m"))


# Ingrid: gas day D closes at 06:00 on D+1; its provisional values are out by noon.
@_one_run_at_a_time("0 12 * * *", ingrid_days_job)
def ingrid_daily(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    first, last = ingrid_refresh_window(_tick_day(context), read("INGRID_REREAD_DAYS"))
    return range_request(last.isoformat(), first, last)


# Allocations of a month are final mid next month: re-read the whole month once more.
@_one_run_at_a_time("0 13 15 * *", ingrid_days_job)
def ingrid_monthly_reread(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    first, last = previous_month(_tick_day(context))
    return range_request(f"month-{first:%Y-%m}", first, last)


@_one_run_at_a_time("0 7 * * *", ingrid_reference_job)
def ingrid_reference_daily(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    return dg.RunRequest(run_key=_tick_day(context).isoformat())


# SFM indicators are published at H-8 min (seed 001 §3.2.2.1): capture them at H-7 min.
@_one_run_at_a_time("53 * * * *", sfm_indicators_job)
def sfm_indicators_hourly(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    tick = context.scheduled_execution_time or datetime.now(UTC)
    return dg.RunRequest(run_key=tick.isoformat(), partition_key=gas_day_of(tick).isoformat())


# Programs: yesterday's gas day has just closed (06:00), so its answers are final; today's
# and tomorrow's are refreshed too (tomorrow's are declared the day before).
@_one_run_at_a_time("15 6 * * *", sfm_programs_job)
def sfm_programs_daily(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    today = _tick_day(context)
    first, last = today - timedelta(days=1), today + timedelta(days=1)
    return range_request(today.isoformat(), first, last)


# Sunday night, between the hourly SFM captures: merging and cleaning take the writer lock
# step by step, so a landing waits a few seconds at most.
@_one_run_at_a_time("10 3 * * 0", warehouse_maintenance)
def warehouse_maintenance_weekly(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    return dg.RunRequest(run_key=_tick_day(context).isoformat())


JOBS = [
    rights_job,
    informative_job,
    published_job,
    documents_job,
    ingrid_days_job,
    ingrid_reference_job,
    sfm_indicators_job,
    sfm_programs_job,
    warehouse_maintenance,
]
SCHEDULES = [
    adict_rights_daily,
    adict_informative_daily,
    adict_published_monthly,
    adict_documents_monthly,
    ingrid_daily,
    ingrid_monthly_reread,
    ingrid_reference_daily,
    sfm_indicators_hourly,
    sfm_programs_daily,
    warehouse_maintenance_weekly,
]
