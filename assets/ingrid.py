"""GRTgaz Ingrid assets: one per resource of seed 000 section 9, from the endpoint table.

Dated resources are partitioned by gas day and run a whole range in one run, asking it in
the fewest ranges the API accepts (`max_days` each, all pages). Every answer goes to the
raw zone first, then the partitions are built from it: a killed run resumes without
asking again what it got today, and `gazoduc reparse` rebuilds with no call at all.
Reference data (links, services, capacities, maintenance programs) is a daily snapshot.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import dagster as dg

from assets.checks import (
    WINDOW_METADATA,
    EnergyBounds,
    HourlySeries,
    Scope,
    publish,
    table_checks,
)
from assets.common import call_metadata, last_closed_gas_day, partition_days
from pipelines.partitions import PARIS, gas_days, paris_today
from pipelines.progress import Progress
from resources.http import UpstreamError
from resources.ingrid import (
    API,
    Chunk,
    ContractForbidden,
    IngridClient,
    IngridResource,
    chunks_of,
    dump_records,
)
from resources.ingrid_endpoints import ENDPOINTS, Endpoint, Grain
from resources.quota import QuotaExhausted
from resources.streams import MalformedStreamError
from warehouse.build import months_between
from warehouse.ingrid import TABLES, build_days, build_snapshot
from warehouse.raw import RawZone
from warehouse.resource import WarehouseResource

POOL = "ingrid"  # Ingrid calls of all runs share one politeness budget (dagster.yaml)
_COMMON = dict(key_prefix="ingrid", group_name="ingrid", pool=POOL, kinds={"parquet", "duckdb"})
MAX_CONSECUTIVE_FAILURES = 3  # then the upstream is down: stop asking
# GRTgaz corrects a month's allocations until mid next month (the monthly re-read): an
# answer fetched this long after its last day holds final values.
CORRECTION_HORIZON = timedelta(days=45)


@dataclass
class Fetched:
    chunks: int = 0
    records: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # "first..last" -> why
    stopped: QuotaExhausted | None = None


def _dated_asset(endpoint: Endpoint) -> dg.AssetsDefinition:
    @dg.asset(
        name=endpoint.name,
        **_COMMON,
        partitions_def=gas_days,
        backfill_policy=dg.BackfillPolicy.single_run(),
        description=_describe(endpoint),
    )
    def _asset(
        context: dg.AssetExecutionContext, ingrid: IngridResource, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        return _land_days(context, ingrid, warehouse, endpoint)

    return _asset


def _snapshot_asset(endpoint: Endpoint) -> dg.AssetsDefinition:
    @dg.asset(name=endpoint.name, **_COMMON, description=_describe(endpoint))
    def _asset(
        context: dg.AssetExecutionContext, ingrid: IngridResource, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        return _land_snapshot(context, ingrid, warehouse, endpoint)

    return _asset


def _describe(endpoint: Endpoint) -> str:
    grain = {Grain.SNAPSHOT: "daily snapshot", Grain.DAILY: "per gas day"}.get(
        endpoint.grain, "per hour of each gas day (23/24/25 rows)"
    )
    return f"Ingrid {endpoint.family}/{endpoint.resource}: {grain}."


INGRID_ASSETS: list[dg.AssetsDefinition] = [
    _dated_asset(e) if e.dated else _snapshot_asset(e) for e in ENDPOINTS
]

# Energies that cannot be negative (imbalances and exceedings are differences: they can).
# The bound is a transmission point's, far above any site: only absurd values warn.
MEASURED = {"quantity", "allocated_quantity"}
MAX_KWH_PER_DAY = 5e9  # 5 TWh: more than France's peak day


def _checks(asset: dg.AssetsDefinition, endpoint: Endpoint) -> dg.AssetChecksDefinition:
    spec = TABLES[endpoint.name]
    measured = next((c.name for c in spec.columns if c.name in MEASURED), None)
    energy = EnergyBounds(measured, MAX_KWH_PER_DAY) if measured and endpoint.dated else None
    hourly = None
    if endpoint.grain is Grain.HOURLY:  # one series per point (or zone): the key minus the hour
        series = tuple(k for k in spec.key if k != "start_date_time")
        hourly = HourlySeries("start_date_time", series_columns=series)
    return table_checks(asset, spec, energy=energy, hourly=hourly)


INGRID_CHECKS = [_checks(a, e) for a, e in zip(INGRID_ASSETS, ENDPOINTS, strict=True)]


def _land_days(
    context: dg.AssetExecutionContext,
    ingrid: IngridResource,
    warehouse: WarehouseResource,
    endpoint: Endpoint,
) -> dg.MaterializeResult:
    first, last = partition_days(context)
    last = min(last, last_closed_gas_day(datetime.now(UTC)))  # an open day has no data yet
    raw, spec = warehouse.raw_zone(), TABLES[endpoint.name]
    with ingrid.client() as client:
        contract = client.contract_code
        if first > last:
            context.log.info(f"{endpoint.name}: no closed gas day in the range yet")
            return dg.MaterializeResult(metadata={"rows": 0, **call_metadata(client.caller)})
        answered = _answered(raw, endpoint.name, contract, first, last)
        ranges = [r for r in chunks_of(endpoint, first, last) if not _inside(r, answered)]
        context.log.info(
            f"{endpoint.name} {first}..{last}: {len(ranges)} ranges to ask "
            f"(up to {endpoint.max_days} days each)"
        )
        fetched = _fetch(
            context, raw, endpoint, contract, ranges, lambda a, b: client.days(endpoint, a, b)
        )
        answers = raw.answers(API, endpoint.name, contract, first, last)
        built = build_days(warehouse.store(spec), raw, answers, first, last)
        publish(context, warehouse, spec, Scope(tuple(months_between(first, last)), first, last))
        metadata = {
            "rows": dg.MetadataValue.int(built.rows),
            WINDOW_METADATA: f"{first}..{last}",
            "ranges_asked": dg.MetadataValue.int(fetched.chunks),
            **call_metadata(client.caller),
        }
    return _finish(fetched, metadata)


def _land_snapshot(
    context: dg.AssetExecutionContext,
    ingrid: IngridResource,
    warehouse: WarehouseResource,
    endpoint: Endpoint,
) -> dg.MaterializeResult:
    today = paris_today()
    raw, store = warehouse.raw_zone(), warehouse.store(TABLES[endpoint.name])
    with ingrid.client() as client:
        contract = client.contract_code
        todays = [
            a
            for a in raw.answers(API, endpoint.name, contract, today, today)
            if a.fetched_at.astimezone(PARIS).date() == today
        ]
        if not todays:  # one list a day: a re-run the same day asks nothing
            _fetch(
                context, raw, endpoint, contract, [(today, today)], _snapshot_of(client, endpoint)
            )
            todays = raw.answers(API, endpoint.name, contract, today, today)[-1:]
        if not todays:
            raise dg.Failure(f"{endpoint.name}: no answer from Ingrid; see the run's log")
        rows = build_snapshot(store, raw, todays[-1], today.isoformat())
        publish(context, warehouse, store.spec, Scope((today.isoformat(),)))
        return dg.MaterializeResult(
            metadata={
                "rows": dg.MetadataValue.int(rows),
                "snapshot_date": today.isoformat(),
                **call_metadata(client.caller),
            }
        )


def _snapshot_of(client: IngridClient, endpoint: Endpoint) -> Callable[[date, date], Chunk]:
    return lambda _first, _last: client.snapshot(endpoint)


def _fetch(
    context: dg.AssetExecutionContext,
    raw: RawZone,
    endpoint: Endpoint,
    contract: str,
    ranges: list[tuple[date, date]],
    ask: Callable[[date, date], Chunk],
) -> Fetched:
    """Ask each range, storing each answer as it comes; a failing range is reported and
    skipped, a refused contract or a spent budget stops the run (landing what came)."""
    fetched, progress, streak = Fetched(), Progress(len(ranges), context.log, "ranges"), 0
    for first, last in ranges:
        try:
            chunk = ask(first, last)
        except ContractForbidden as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from None
        except QuotaExhausted as exc:
            fetched.stopped = exc
            break
        except (UpstreamError, MalformedStreamError) as exc:
            context.log.error(f"{endpoint.name} {first}..{last}: {exc}")
            fetched.failed[f"{first}..{last}"], streak = str(exc), streak + 1
            if streak >= MAX_CONSECUTIVE_FAILURES:
                break
            continue
        streak = 0
        outcome = "data" if chunk.records else "no_data"
        body = dump_records(chunk.records)
        raw.put(API, endpoint.name, contract, first, last, body, outcome, len(chunk.records))
        fetched.chunks += 1
        fetched.records += len(chunk.records)
        progress.tick(len(chunk.records))
    return fetched


def _finish(fetched: Fetched, metadata: dict[str, object]) -> dg.MaterializeResult:
    if fetched.stopped is not None:
        raise dg.Failure(description=str(fetched.stopped), metadata=metadata, allow_retries=False)
    if fetched.failed:
        ranges = ", ".join(sorted(fetched.failed)[:5])
        raise dg.Failure(
            description=f"{len(fetched.failed)} ranges failed ({ranges}); the rest is landed, "
            "a re-run the same day asks only for those",
            metadata=metadata,
        )
    return dg.MaterializeResult(metadata=metadata)


def _answered(
    raw: RawZone, dataset: str, contract: str, first: date, last: date
) -> list[tuple[date, date]]:
    """Ranges not to ask again: answered today (a killed or failed run), or answered once
    their days were past GRTgaz's corrections (a backfill resumed another day)."""
    today = paris_today()
    answered = []
    for answer in raw.answers(API, dataset, contract, first, last):
        fetched_on = answer.fetched_at.astimezone(PARIS).date()
        if fetched_on == today or answer.last_day < fetched_on - CORRECTION_HORIZON:
            answered.append((answer.first_day, answer.last_day))
    return answered


def _inside(span: tuple[date, date], covering: list[tuple[date, date]]) -> bool:
    return any(a <= span[0] and span[1] <= b for a, b in covering)
