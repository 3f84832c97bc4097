"""GRTgaz Ingrid assets: one per resource of seed 000 section 9, from the endpoint table.

Dated resources are partitioned by gas day and run a whole range in one run, asking it in
the fewest ranges the API accepts (`max_days` each, all pages). Every answer goes to the
raw zone first, then the partitions are built from it: a killed run resumes without
asking again what it got today, and `gazoduc reparse` rebuilds with no call at all.
Reference data (links, services, capacities, maintenance programs) is a daily snapshot.
"""

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import dagster as dg

from assets.checks import (
    WINDOW_METADATA,
    EnergyBounds,
    HourlySeries,
    Scope,
    blocking_rules,
    landed_or_failure,
    table_checks,
)
from assets.common import call_metadata, last_closed_gas_day, partition_days
from assets.fetching import Answered, Ask, Reply, fetch_all, finish
from pipelines.partitions import PARIS, gas_days, paris_today
from resources.ingrid import (
    API,
    Chunk,
    IngridClient,
    IngridResource,
    chunks_of,
    dump_records,
    read_records,
)
from resources.ingrid_endpoints import ENDPOINTS, TABLES, Endpoint, Grain
from resources.warehouse import WarehouseResource
from warehouse.build import build_days, build_whole_snapshot, months_between
from warehouse.raw import RawZone

POOL = "ingrid"  # Ingrid calls of all runs share one politeness budget (dagster.yaml)
_COMMON = dict(key_prefix="ingrid", group_name="ingrid", pool=POOL, kinds={"parquet", "duckdb"})
# GRTgaz corrects a month's allocations until mid next month (the monthly re-read): an
# answer fetched this long after its last day holds final values.
CORRECTION_HORIZON = timedelta(days=45)


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
    if endpoint.grain is Grain.HOURLY and not endpoint.sparse:  # a series per point or zone
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
        answered = _settled(raw, endpoint.name, contract, first, last)
        ranges = [r for r in chunks_of(endpoint, first, last) if not _inside(r, answered)]
        context.log.info(
            f"{endpoint.name} {first}..{last}: {len(ranges)} ranges to ask "
            f"(up to {endpoint.max_days} days each)"
        )
        asks = [Ask(contract, a, b) for a, b in ranges]
        report = fetch_all(
            context, raw, API, endpoint.name, asks, _ranged(client, endpoint), "ranges"
        )
        answers = raw.answers(API, endpoint.name, contract, first, last)
        scope = Scope(tuple(months_between(first, last)), first, last)
        table = warehouse.table(spec, blocking_rules(warehouse, spec, scope))
        built = landed_or_failure(
            lambda: build_days(table, raw, answers, first, last, read_records)
        )
        metadata = {
            "rows": dg.MetadataValue.int(built.rows),
            WINDOW_METADATA: f"{first}..{last}",
            **call_metadata(client.caller),
        }
    return finish(context, report, raw, metadata)


def _land_snapshot(
    context: dg.AssetExecutionContext,
    ingrid: IngridResource,
    warehouse: WarehouseResource,
    endpoint: Endpoint,
) -> dg.MaterializeResult:
    today = paris_today()
    raw, spec = warehouse.raw_zone(), TABLES[endpoint.name]
    scope = Scope((today.isoformat(),))
    table = warehouse.table(spec, blocking_rules(warehouse, spec, scope))
    with ingrid.client() as client:
        contract = client.contract_code
        todays = [
            a
            for a in raw.answers(API, endpoint.name, contract, today, today)
            if a.fetched_at.astimezone(PARIS).date() == today
        ]
        asks = [] if todays else [Ask(contract, today, today)]  # one list a day
        report = fetch_all(
            context, raw, API, endpoint.name, asks, _listed(client, endpoint), "lists"
        )
        todays = todays or raw.answers(API, endpoint.name, contract, today, today)[-1:]
        metadata: dict[str, object] = {"snapshot_date": today.isoformat()}
        if todays:
            snapshot = todays[-1]
            rows = landed_or_failure(
                lambda: build_whole_snapshot(table, raw, snapshot, today.isoformat(), read_records)
            )
            metadata["rows"] = dg.MetadataValue.int(rows)
        metadata |= call_metadata(client.caller)
    return finish(context, report, raw, metadata)


def _ranged(client: IngridClient, endpoint: Endpoint) -> Callable[[Ask], Answered]:
    return lambda ask: _answered(client.days(endpoint, ask.first_day, ask.last_day), ask)


def _listed(client: IngridClient, endpoint: Endpoint) -> Callable[[Ask], Answered]:
    return lambda ask: _answered(client.snapshot(endpoint), ask)


def _answered(chunk: Chunk, ask: Ask) -> Answered:
    """A range's records (all its pages) as one raw answer."""
    outcome = "data" if chunk.records else "no_data"
    body = dump_records(chunk.records)
    reply = Reply(ask.first_day, ask.last_day, body, outcome, len(chunk.records))
    return Answered([reply], len(chunk.records))


def _settled(
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
