"""GRDF ADICT assets: plan the calls, ask the client, hand the rows to the warehouse.

Partitioned assets run a whole partition range in one run (`BackfillPolicy.single_run`),
so a backfill of years costs one call per PCE per 3- or 5-year window, not one per day.
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pyarrow as pa

from pipelines.partitions import gas_day_of, gas_days, month_bounds, month_key, months, paris_today
from pipelines.planner import pces_opened, plan_calls, right_from_record
from pipelines.progress import Progress
from resources.adict import AdictClient, AdictResource, CallOutcome, outcome_summary
from resources.quota import QuotaExhausted
from warehouse.adict import (
    ACCESS_RIGHTS,
    CONTRACTUAL_DATA,
    INFORMATIVE_CONSUMPTION,
    PUBLISHED_CONSUMPTION,
    PUBLISHED_INJECTION,
    TECHNICAL_DATA,
)
from warehouse.resource import WarehouseResource
from warehouse.store import TableSpec

POOL = "adict"  # one ADICT op at a time across runs: they share one quota (dagster.yaml)
_COMMON = dict(key_prefix="adict", group_name="adict", pool=POOL, kinds={"parquet", "duckdb"})
_RANGE = dict(
    backfill_policy=dg.BackfillPolicy.single_run(), deps=[dg.AssetKey(["adict", "access_rights"])]
)


@dg.asset(**_COMMON, description="All our access rights (consents): one call, a daily snapshot.")
def access_rights(
    context: dg.AssetExecutionContext, adict: AdictResource, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    snapshot = paris_today().isoformat()
    with _stop_cleanly_at_quota(warehouse), adict.client() as client:
        listing = client.access_rights()
        table = ACCESS_RIGHTS.to_arrow(listing.rights, _now(), warehouse.keep_personal_data)
        with warehouse.store(ACCESS_RIGHTS).landing(lambda *_: [snapshot]) as landing:
            landing.add(table, [snapshot] * table.num_rows)
            landing.replace_partition(snapshot)
        if listing.malformed_ids:
            context.log.warning(
                f"{len(listing.malformed_ids)} rights with a malformed PCE id skipped"
            )
        return _result(
            client, warehouse, table.num_rows, {"malformed_pce_ids": len(listing.malformed_ids)}
        )


@dg.asset(
    **_COMMON,
    **_RANGE,
    partitions_def=gas_days,
    description="Informative (daily) consumption per PCE and gas day.",
)
def informative_consumption(
    context: dg.AssetExecutionContext, adict: AdictResource, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    return _land_windows(
        context, adict, warehouse, INFORMATIVE_CONSUMPTION, "date_fin_consommation"
    )


@dg.asset(
    **_COMMON,
    **_RANGE,
    partitions_def=months,
    description="Published (billing) consumption, by month of the period's last gas day.",
)
def published_consumption(
    context: dg.AssetExecutionContext, adict: AdictResource, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    return _land_windows(context, adict, warehouse, PUBLISHED_CONSUMPTION, "date_fin_consommation")


@dg.asset(
    **_COMMON,
    **_RANGE,
    partitions_def=months,
    description="Published biomethane injection, by month of the period's last gas day.",
)
def published_injection(
    context: dg.AssetExecutionContext, adict: AdictResource, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    return _land_windows(context, adict, warehouse, PUBLISHED_INJECTION, "date_fin_injection")


@dg.asset(
    **_COMMON,
    deps=[dg.AssetKey(["adict", "access_rights"])],
    description="Contractual data (CAR, CJA, profile, tariff, commissioning): a monthly snapshot.",
)
def contractual_data(
    context: dg.AssetExecutionContext, adict: AdictResource, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    return _land_documents(context, adict, warehouse, CONTRACTUAL_DATA)


@dg.asset(
    **_COMMON,
    deps=[dg.AssetKey(["adict", "access_rights"])],
    description="Technical data (meter address, frequency, PITD): a monthly snapshot.",
)
def technical_data(
    context: dg.AssetExecutionContext, adict: AdictResource, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    return _land_documents(context, adict, warehouse, TECHNICAL_DATA)


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
    end_column: str,
) -> dg.MaterializeResult:
    first, last = _partition_days(context)
    today = paris_today()
    rights = [right_from_record(r) for r in warehouse.latest_access_rights()]
    calls = plan_calls(spec.name, rights, first, last, today)
    context.log.info(f"{spec.name} {first}..{last}: {len(calls)} calls for {len(rights)} rights")
    progress = Progress(len(calls), context.log)
    outcomes: list[CallOutcome] = []
    landing_cm = warehouse.store(spec).landing(_months_between, commit_on=(QuotaExhausted,))
    with _stop_cleanly_at_quota(warehouse), adict.client() as client:
        with landing_cm as landing:
            for call in calls:
                outcome = client.window(spec.name, call.id_pce, call.first_day, call.last_day)
                table = spec.to_arrow(outcome.blocks, _now())
                days = _last_gas_days(table, end_column)
                keep = [day is not None and first <= day <= last for day in days]
                landing.add(
                    table.filter(pa.array(keep, pa.bool_())),
                    [month_key(d) for d, k in zip(days, keep, strict=True) if k],
                )
                landing.replace(call.id_pce, call.first_day, call.last_day)
                outcomes.append(outcome)
                progress.tick(sum(keep))
        return _result(
            client,
            warehouse,
            progress.rows,
            {
                "pces": len({c.id_pce for c in calls}),
                "outcomes": outcome_summary(outcomes),
                "window": f"{first}..{last}",
            },
        )


def _land_documents(
    context: dg.AssetExecutionContext,
    adict: AdictResource,
    warehouse: WarehouseResource,
    spec: TableSpec,
) -> dg.MaterializeResult:
    snapshot = month_key(paris_today())
    rights = [right_from_record(r) for r in warehouse.latest_access_rights()]
    pces = pces_opened(spec.name, rights, paris_today())
    progress = Progress(len(pces), context.log)
    outcomes: list[CallOutcome] = []
    landing_cm = warehouse.store(spec).landing(lambda *_: [snapshot], commit_on=(QuotaExhausted,))
    with _stop_cleanly_at_quota(warehouse), adict.client() as client:
        with landing_cm as landing:
            for id_pce in pces:
                outcome = client.document(spec.name, id_pce)
                table = spec.to_arrow(outcome.blocks, _now())
                landing.add(table, [snapshot] * table.num_rows)
                landing.replace(id_pce, date.min, date.max)
                outcomes.append(outcome)
                progress.tick(table.num_rows)
        return _result(
            client,
            warehouse,
            progress.rows,
            {
                "pces": len(pces),
                "outcomes": outcome_summary(outcomes),
                "snapshot_month": snapshot,
            },
        )


@contextmanager
def _stop_cleanly_at_quota(warehouse: WarehouseResource) -> Iterator[None]:
    """A spent daily quota ends the run with a clear message, after landing what it got.

    The landing commits on QuotaExhausted (those calls are spent; their answers must not
    be lost), then the run fails without retries until the budget resets.
    """
    try:
        yield
    except QuotaExhausted as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from exc
    finally:
        warehouse.refresh_catalog()


def _result(
    client: AdictClient, warehouse: WarehouseResource, rows: int, extra: dict[str, object]
) -> dg.MaterializeResult:
    stats = client.caller.stats
    return dg.MaterializeResult(
        metadata={
            "rows": dg.MetadataValue.int(rows),
            "calls_spent": dg.MetadataValue.int(stats.sent),
            "calls_retried": dg.MetadataValue.int(stats.retried),
            "calls_left_today": dg.MetadataValue.int(client.caller.ledger.remaining_today()),
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


def _last_gas_days(table: pa.Table, end_column: str) -> Sequence[date | None]:
    """Each block's last gas day: its `journee_gaziere`, else the day its period ends in."""
    days = table.column("journee_gaziere").to_pylist()
    ends = table.column(end_column).to_pylist()
    return [
        day if day is not None or end is None else gas_day_of(end - timedelta(microseconds=1))
        for day, end in zip(days, ends, strict=True)
    ]


def _months_between(first: date, last: date) -> list[str]:
    keys, day = [], first.replace(day=1)
    while day <= last:
        keys.append(month_key(day))
        day = month_bounds(month_key(day))[1] + timedelta(days=1)
    return keys


def _now() -> datetime:
    return datetime.now(UTC)
