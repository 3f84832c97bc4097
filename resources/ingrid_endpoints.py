"""GRTgaz Ingrid: the endpoint table, the one place that knows its paths and record shapes.

Seed 000 section 9 names the resources and their families; their paths, parameters,
paging and record shapes are **assumed** (API-NOTES): when a customer hands over
GRTgaz's Postman collection, this file is what changes. The client, the sandbox and the
warehouse all read it, so they cannot drift apart.

Assumed protocol, the same for every resource:
    GET {base}/{family}/v1/contracts/{contractCode}/{resource}
        ?startGasDay=YYYY-MM-DD&endGasDay=YYYY-MM-DD   (dated resources, both inclusive)
        &page=0&size=1000                               (0-based pages)
    200 {"contractCode": …, "page": {"number", "size", "totalElements", "totalPages"},
         "items": [record, …]}
Records are camelCase JSON; the warehouse stores them under snake_case names. Every
quantity travels with its unit (`unit`, or `priceUnit` beside prices).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from warehouse.columns import Column, Kind, col
from warehouse.store import TableSpec

PATH_TEMPLATE = "/{family}/v1/contracts/{contract_code}/{resource}"
START_PARAM, END_PARAM = "startGasDay", "endGasDay"
PAGE_PARAM, SIZE_PARAM = "page", "size"
PAGE_SIZE = 1000  # the largest page the API serves (assumed)
ITEMS_FIELD, PAGE_FIELD = "items", "page"


class Family(StrEnum):
    """Seed 000 section 9's families, as path segments."""

    PORTFOLIO = "portfolio"
    CONFIRMATION_NOTICE = "confirmation-notice"
    OPERATIONAL_NOTICE = "operational-capacity-notice"
    MAINTENANCE = "maintenance-schedule"
    MEASURES = "measures"
    ALLOCATIONS = "allocations"
    BALANCING = "balancing"


class Grain(StrEnum):
    SNAPSHOT = "snapshot"  # reference data: no dates asked, the whole list each time
    DAILY = "daily"  # rows carry a gasDay
    HOURLY = "hourly"  # rows carry a gasDay and the hour's startDateTime / endDateTime


@dataclass(frozen=True)
class Field:
    name: str  # camelCase, as GRTgaz sends it
    kind: Kind = Kind.STRING


@dataclass(frozen=True)
class Endpoint:
    name: str  # our asset and table name
    family: Family
    resource: str  # GRTgaz's name (seed 000 section 9)
    grain: Grain
    fields: tuple[Field, ...]
    key: tuple[str, ...]  # fields identifying one record
    max_days: int = 31  # gas days one call may span (assumed)
    # Records only where something happened (an exceeding): an hourly series has gaps by
    # nature, so no completeness rule applies.
    sparse: bool = False

    def path(self, contract_code: str) -> str:
        return PATH_TEMPLATE.format(
            family=self.family, contract_code=contract_code, resource=self.resource
        )

    @property
    def dated(self) -> bool:
        return self.grain is not Grain.SNAPSHOT


def _f(spec: str) -> tuple[Field, ...]:
    """`"gasDay:date pointCode quantity:double"` -> fields (kind defaults to string)."""
    fields = []
    for item in spec.split():
        name, _, kind = item.partition(":")
        fields.append(Field(name, Kind(kind) if kind else Kind.STRING))
    return tuple(fields)


# Shapes shared by several resources.
_PERIOD = "startGasDay:date endGasDay:date"
_HOUR = "gasDay:date startDateTime:timestamp endDateTime:timestamp"
_DAY_POINT = ("gasDay", "pointCode")
_HOUR_POINT = ("pointCode", "startDateTime")

P, CN, ON = Family.PORTFOLIO, Family.CONFIRMATION_NOTICE, Family.OPERATIONAL_NOTICE
MS, M, A, B = Family.MAINTENANCE, Family.MEASURES, Family.ALLOCATIONS, Family.BALANCING
S, D, H = Grain.SNAPSHOT, Grain.DAILY, Grain.HOURLY

# fmt: off
ENDPOINTS: tuple[Endpoint, ...] = (
    # Portfolio of services and capacities (reference data).
    Endpoint(
        "upstream_allocated_capacities", P, "upstream-allocated-capacities", S,
        _f(f"capacityId pointCode pointLabel direction capacityType {_PERIOD} "
           "allocatedCapacity:double unit"),
        ("capacityId",),
    ),
    Endpoint(
        "standardized_capacity_subscriptions", P, "standardized-capacity-subscriptions", S,
        _f(f"subscriptionId pointCode product {_PERIOD} subscribedCapacity:double unit"),
        ("subscriptionId",),
    ),
    Endpoint(
        "downstream_allocated_capacities", P, "downstream-allocated-capacities", S,
        _f(f"capacityId pointCode pointLabel {_PERIOD} dailyCapacity:double "
           "hourlyCapacity:double unit"),
        ("capacityId",),
    ),
    Endpoint(
        "services", P, "services", S,
        _f(f"serviceId serviceCode serviceLabel status {_PERIOD}"),
        ("serviceId",),
    ),
    # Notices and maintenance.
    Endpoint(
        "confirmation_notice", CN, "confirmation-notice", D,
        _f("gasDay:date pointCode direction nominatedQuantity:double confirmedQuantity:double "
           "unit confirmationDateTime:timestamp"),
        ("gasDay", "pointCode", "direction"),
    ),
    Endpoint(
        "operational_notices", ON, "operational-notices", D,
        _f("noticeId gasDay:date pointCode direction operationalCapacity:double unit reason "
           "publicationDateTime:timestamp"),
        ("noticeId", "gasDay"),
    ),
    Endpoint(
        "consolidated_maintenance_programs", MS, "consolidated-maintenance-programs", S,
        _f(f"maintenanceId pointCode pointLabel {_PERIOD} capacityReduction:double unit "
           "description"),
        ("maintenanceId",),
    ),
    # Measures.
    Endpoint(
        "supply_links", M, "supply-links", S,
        _f(f"supplyLinkId pointCode pointLabel pointType {_PERIOD}"),
        ("supplyLinkId",),
    ),
    Endpoint(
        "pce_connection_links", M, "pce-connection-links", S,
        _f(f"pceCode pointCode siteLabel {_PERIOD}"),
        ("pceCode", "pointCode"),
    ),
    Endpoint(
        "daily_measures", M, "daily-measures", D,
        _f("gasDay:date pointCode quantity:double unit status"),
        _DAY_POINT,
    ),
    Endpoint(
        "hourly_measures", M, "hourly-measures", H,
        _f(f"{_HOUR} pointCode quantity:double unit status"),
        _HOUR_POINT,
    ),
    # Allocations.
    Endpoint(
        "daily_allocations", A, "daily-allocations", D,
        _f("gasDay:date pointCode allocatedQuantity:double unit status"),
        _DAY_POINT,
    ),
    Endpoint(
        "hourly_allocations", A, "hourly-allocations", H,
        _f(f"{_HOUR} pointCode allocatedQuantity:double unit status"),
        _HOUR_POINT,
    ),
    Endpoint(
        "daily_imbalances", A, "daily-imbalances", D,
        _f("gasDay:date balancingZone allocatedQuantity:double forecastQuantity:double "
           "imbalanceQuantity:double toleranceQuantity:double unit status"),
        ("gasDay", "balancingZone"),
    ),
    Endpoint(
        "daily_exceeding", A, "daily-exceeding", D,
        _f("gasDay:date pointCode capacity:double allocatedQuantity:double "
           "exceedingQuantity:double unit"),
        _DAY_POINT,
        sparse=True,
    ),
    Endpoint(
        "hourly_exceeding", A, "hourly-exceeding", H,
        _f(f"{_HOUR} pointCode capacity:double allocatedQuantity:double "
           "exceedingQuantity:double unit"),
        _HOUR_POINT,
        sparse=True,
    ),
    # Balancing.
    Endpoint(
        "common_indicators", B, "common-indicators", D,
        _f("gasDay:date balancingZone systemImbalanceQuantity:double unit "
           "weightedAveragePrice:double marginalBuyPrice:double marginalSellPrice:double "
           "priceUnit"),
        ("gasDay", "balancingZone"),
    ),
    Endpoint(
        "daily_contractual_forecasts", B, "daily-contractual-forecasts", D,
        _f("gasDay:date pointCode forecastQuantity:double unit forecastDateTime:timestamp"),
        _DAY_POINT,
    ),
    Endpoint(
        "intraday_distributed_quantities", B, "intraday-distributed-quantities", D,
        _f("gasDay:date publicationDateTime:timestamp distributedQuantity:double unit"),
        ("gasDay", "publicationDateTime"),
    ),
    # The balancing family has its own hourly-allocations (the zone's, not per point).
    Endpoint(
        "balancing_hourly_allocations", B, "hourly-allocations", H,
        _f(f"{_HOUR} balancingZone allocatedQuantity:double unit status"),
        ("balancingZone", "startDateTime"),
    ),
)
# fmt: on
BY_NAME: dict[str, Endpoint] = {e.name: e for e in ENDPOINTS}


# --- the warehouse table each endpoint lands in -------------------------------------------
# Columns are GRTgaz's camelCase fields in snake_case (`gasDay` -> `gas_day`). Hourly
# tables add `start_local`, the hour's Europe/Paris wall-clock start, beside the UTC
# `start_date_time` and the `gas_day`: on the autumn DST day two rows share a local start
# and differ by their UTC start, the key. Dated tables land in monthly partitions
# (`month`); reference data in daily snapshots (`snapshot_date`). A chunk answer covers
# the whole contract on its days: a newer answer replaces every row of those days.

SCHEMA = "ingrid"


def snake(name: str) -> str:
    """`startDateTime` -> `start_date_time`."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _columns(endpoint: Endpoint) -> tuple[Column, ...]:
    columns = [col(snake(f.name), f.name, f.kind) for f in endpoint.fields]
    if endpoint.grain is Grain.HOURLY:
        columns.append(col("start_local", "startDateTime", Kind.LOCAL_TIMESTAMP))
    return tuple(columns)


def table_spec(endpoint: Endpoint) -> TableSpec:
    dated = endpoint.dated
    return TableSpec(
        SCHEMA,
        endpoint.name,
        _columns(endpoint),
        partition_key="month" if dated else "snapshot_date",
        key=tuple(snake(k) for k in endpoint.key),
        day_sql="old.gas_day" if dated else None,
        scope_column=None,  # an answer covers the whole contract
    )


TABLES: dict[str, TableSpec] = {e.name: table_spec(e) for e in ENDPOINTS}
