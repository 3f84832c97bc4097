"""GRDF ADICT assets: plan the calls, fetch what is not answered yet, build from raw.

Each asset works in two phases. Fetch: every call the planner asks for that no fresh
stored answer covers, each answer stored in the raw zone as soon as it arrives. Build:
the curated partitions of the range, from the stored answers. A run that dies resumes
without repeating a call; a run that meets the end of the daily budget lands what it got.

Partitioned assets run a whole partition range in one run (`BackfillPolicy.single_run`),
so a backfill of years costs one call per PCE per 3- or 5-year window, not one per day.
"""

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

import dagster as dg

from pipelines.operations import fresh_windows
from pipelines.partitions import gas_days, month_key, months, paris_today
from pipelines.planner import (
    PlannedCall,
    pces_opened,
    plan_calls,
    reclip,
    right_from_record,
    subtract_answered,
)
from pipelines.progress import Progress
from resources.adict import API, AdictClient, AdictResource, CallOutcome, RawAnswer
from resources.http import UpstreamError
from resources.quota import QuotaExhausted
from resources.streams import MalformedStreamError
from warehouse.adict import (
    ACCESS_RIGHTS,
    CONTRACTUAL_DATA,
    INFORMATIVE_CONSUMPTION,
    PUBLISHED_CONSUMPTION,
    PUBLISHED_INJECTION,
    TECHNICAL_DATA,
)
from warehouse.build import BuildResult, build_snapshot, build_windows
from warehouse.raw import Answer, RawZone
from warehouse.resource import WarehouseResource
from warehouse.store import TableSpec

POOL = "adict"  # one ADICT op at a time across runs: they share one quota (dagster.yaml)
ALL_PCES = "*"  # the raw-zone key of answers that cover every PCE (the rights list)
_COMMON = dict(key_prefix="adict", group_name="adict", pool=POOL, kinds={"parquet", "duckdb"})
_AFTER_RIGHTS = dict(deps=[dg.AssetKey(["adict", "access_rights"])])
_RANGE = dict(backfill_policy=dg.BackfillPolicy.single_run(), **_AFTER_RIGHTS)


@dg.asset(**_COMMON, description="All our access rights (consents): one call, a daily snapshot.")
def access_rights(adict: AdictResource, warehouse: WarehouseResource) -> dg.MaterializeResult:
    today = paris_today()
    raw = warehouse.raw_zone()
    with adict.client() as client:
        listing = client.access_rights(today)
        answer = _store(raw, "access_rights", ALL_PCES, listing.answer)
        built = build_snapshot(
            warehouse.store(ACCESS_RIGHTS),
            raw,
            [answer],
            today.isoformat(),
            warehouse.keep_personal_data,
        )
        warehouse.refresh_catalog()
        return _result(client, built, {"malformed_pce_ids": len(listing.malformed_ids)})


def _windowed_asset(
    spec: TableSpec, partitions_def: dg.PartitionsDefinition, description: str
) -> dg.AssetsDefinition:
    @dg.asset(
        name=spec.name, **_COMMON, **_RANGE, partitions_def=partitions_def, description=description
    )
    def _asset(
        context: dg.AssetExecutionContext, adict: AdictResource, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        return _land_windows(context, adict, warehouse, spec)

    return _asset


def _snapshot_asset(spec: TableSpec, description: str) -> dg.AssetsDefinition:
    @dg.asset(name=spec.name, **_COMMON, **_AFTER_RIGHTS, description=description)
    def _asset(
        context: dg.AssetExecutionContext, adict: AdictResource, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        return _land_documents(context, adict, warehouse, spec)

    return _asset


informative_consumption = _windowed_asset(
    INFORMATIVE_CONSUMPTION, gas_days, "Informative (daily) consumption per PCE and gas day."
)
published_consumption = _windowed_asset(
    PUBLISHED_CONSUMPTION,
    months,
    "Published (billing) consumption, by month of the period's last gas day.",
)
published_injection = _windowed_asset(
    PUBLISHED_INJECTION,
    months,
    "Published biomethane injection, by month of the period's last gas day.",
)
contractual_data = _snapshot_asset(
    CONTRACTUAL_DATA,
    "Contractual data (CAR, CJA, profile, tariff, commissioning): monthly snapshot.",
)
technical_data = _snapshot_asset(
    TECHNICAL_DATA, "Technical data (meter address, frequency, PITD): monthly snapshot."
)

ADICT_ASSETS = [
    access_rights,
    informative_consumption,
    published_consumption,
    published_injection,
    contractual_data,
    technical_data,
]


def _land_windows(
    context: dg.AssetExecutionContext,
    adict: AdictResource,
    warehouse: WarehouseResource,
    spec: TableSpec,
) -> dg.MaterializeResult:
    first, last = _partition_days(context)
    today = paris_today()
    raw = warehouse.raw_zone()
    rights = [right_from_record(r) for r in warehouse.latest_access_rights()]
    planned = plan_calls(spec.name, rights, first, last, today)
    answered = fresh_windows(raw, spec.name, first, last, today)
    calls = subtract_answered(planned, answered)
    context.log.info(
        f"{spec.name} {first}..{last}: {len(planned)} windows for {len(rights)} rights, "
        f"{len(calls)} calls to make (the rest answered already)"
    )
    with adict.client() as client:
        report = _fetch_all(
            context,
            raw,
            calls,
            lambda c: client.window(spec.name, c.id_pce, c.first_day, c.last_day),
        )
        pces = {c.id_pce for c in planned}
        answers = [a for a in raw.answers(API, spec.name, None, first, last) if a.id_pce in pces]
        built = build_windows(warehouse.store(spec), raw, answers, first, last)
        return _finish(
            client, warehouse, built, report, {"pces": len(pces), "window": f"{first}..{last}"}
        )


def _land_documents(
    context: dg.AssetExecutionContext,
    adict: AdictResource,
    warehouse: WarehouseResource,
    spec: TableSpec,
) -> dg.MaterializeResult:
    today = paris_today()
    month_start = today.replace(day=1)
    raw = warehouse.raw_zone()
    rights = [right_from_record(r) for r in warehouse.latest_access_rights()]
    pces = pces_opened(spec.name, rights, today)
    done = {a.id_pce for a in raw.answers(API, spec.name, None, month_start, today)}
    calls = [PlannedCall(spec.name, p, today, today) for p in pces if p not in done]
    with adict.client() as client:
        report = _fetch_all(
            context, raw, calls, lambda c: client.document(spec.name, c.id_pce, today)
        )
        opened = set(pces)
        answers = [
            a for a in raw.answers(API, spec.name, None, month_start, today) if a.id_pce in opened
        ]
        built = build_snapshot(
            warehouse.store(spec), raw, answers, month_key(today), warehouse.keep_personal_data
        )
        return _finish(
            client,
            warehouse,
            built,
            report,
            {"pces": len(pces), "snapshot_month": month_key(today)},
        )


@dataclass
class FetchReport:
    """How the fetch phase went: what failed is retried by the next run, from where it is."""

    calls: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # PCE -> why
    stopped: QuotaExhausted | None = None
    left: int = 0  # calls not made when the budget ran out
    outcomes: Counter[str] = field(default_factory=Counter)


# This many failures in a row means the upstream is down, not one PCE: stop asking.
MAX_CONSECUTIVE_FAILURES = 5


def _fetch_all(
    context: dg.AssetExecutionContext,
    raw: RawZone,
    calls: list[PlannedCall],
    fetch: Callable[[PlannedCall], CallOutcome],
) -> FetchReport:
    """Make the calls, storing each answer as it comes. A failing PCE is reported and
    skipped; the end of the daily budget stops the phase (both land what came before)."""
    report, progress, streak = FetchReport(len(calls)), Progress(len(calls), context.log), 0
    for planned in calls:
        call = reclip(planned, paris_today())  # a run that crosses midnight: GRDF's today moved
        if call is None:
            progress.tick()
            continue
        try:
            outcome = fetch(call)
        except QuotaExhausted as exc:
            report.stopped = exc
            break
        except (UpstreamError, MalformedStreamError) as exc:
            context.log.error(f"PCE {call.id_pce} {call.first_day}..{call.last_day}: {exc}")
            report.failed[call.id_pce], streak = str(exc), streak + 1
            if streak >= MAX_CONSECUTIVE_FAILURES:
                break
            continue
        streak = 0
        for answer in outcome.answers:
            _store(raw, call.dataset, call.id_pce, answer)
        report.outcomes[str(outcome.kind)] += 1
        progress.tick(len(outcome.blocks))
        if outcome.stopped is not None:
            report.stopped = outcome.stopped
            break
    if report.stopped:
        report.left = len(calls) - progress.done
        context.log.warning(f"{report.stopped}: {report.left:,} calls left for later")
    return report


def _store(raw: RawZone, dataset: str, id_pce: str, answer: RawAnswer) -> Answer:
    return raw.put(
        API,
        dataset,
        id_pce,
        answer.first_day,
        answer.last_day,
        answer.body,
        answer.kind,
        answer.records,
    )


def _finish(
    client: AdictClient,
    warehouse: WarehouseResource,
    built: BuildResult,
    report: FetchReport,
    extra: dict[str, object],
) -> dg.MaterializeResult:
    """Refresh the catalog, then succeed, or fail saying what is left (already landed
    data stays landed; the next run asks only for what is missing)."""
    warehouse.refresh_catalog()
    result = _result(client, built, extra | {"outcomes": dict(report.outcomes)})
    if report.stopped is not None:
        raise dg.Failure(
            description=f"{report.stopped}: {report.left:,} calls left",
            metadata=result.metadata,
            allow_retries=False,
        )
    if report.failed:
        pces = ", ".join(sorted(report.failed)[:10])
        raise dg.Failure(
            description=f"{len(report.failed)} of {report.calls} calls failed ({pces}); "
            "the rest is landed, a re-run asks only for what is missing",
            metadata=result.metadata,
        )
    return result


def _result(
    client: AdictClient, built: BuildResult, extra: dict[str, object]
) -> dg.MaterializeResult:
    stats = client.caller.stats
    return dg.MaterializeResult(
        metadata={
            "rows": dg.MetadataValue.int(built.rows),
            "calls_spent": dg.MetadataValue.int(stats.sent),
            "calls_retried": dg.MetadataValue.int(stats.retried),
            "calls_left_today": dg.MetadataValue.int(client.caller.ledger.remaining_today()),
            "answers_used": dg.MetadataValue.int(built.answers),
            **{
                k: v if isinstance(v, int | str) else dg.MetadataValue.json(v)
                for k, v in extra.items()
            },
        }
    )


def _partition_days(context: dg.AssetExecutionContext) -> tuple[date, date]:
    """First and last gas day of the run's partition range (one key or a backfill range)."""
    window = context.partition_time_window
    return window.start.date(), (window.end - timedelta(days=1)).date()
