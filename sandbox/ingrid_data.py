"""The GRTgaz Ingrid sandbox's data: one shipper contract's points, and the ground truth.

Every value is a pure function of (seed, contract code, point, gas day, hour): any range
is computed on demand, in any order, with the same result in every process. The app
serves from `IngridData.records`; tests compare with `expected_records`.

Rules that tie the resources together (tests check each one):
- daily measures are the sums of the hourly measures (kWh, integers per hour);
- hourly allocations are within 2 % of the hourly measures; daily allocations are
  their sums; the balancing zone's hourly allocations are the sums over the points;
- allocations and measures are PROVISIONAL for gas days of the current and previous
  month (Paris date of the clock), DEFINITIVE before; definitive allocations differ
  from the provisional ones, so a re-read after the month is settled matters;
- daily imbalance = allocations - contractual forecasts over the contract (zone TRF),
  with a tolerance of 5 % of the forecasts;
- exceeding rows exist exactly where an allocation is above the downstream capacity;
- confirmed quantities are the forecasts, cut to the operational capacity of a notice;
- a gas day D exists only once closed: at 06:00 Europe/Paris on D+1.
Record shapes come from `resources.ingrid_endpoints`; `_record` refuses any drift.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from itertools import pairwise
from typing import Any

from resources.ingrid_endpoints import BY_NAME, Endpoint
from sandbox.clock import PARIS
from warehouse.columns import Kind

DEFAULT_SEED = 11
DEFAULT_CONTRACT = "GRT-SHP-0001"
BALANCING_ZONE = "TRF"  # Trading Region France, the single French zone since 2018
CONTRACT_START = date(2018, 10, 1)  # first gas day with data (assumed)
CONTRACT_END = date(2030, 9, 30)  # end of the reference data's validity periods
PROVISIONAL, DEFINITIVE = "PROVISIONAL", "DEFINITIVE"
ENERGY, DAILY_RATE, PRICE_UNIT = "kWh", "kWh/d", "EUR/MWh"
TOLERANCE_SHARE = 0.05  # of the day's forecasts
ALLOCATION_SPREAD = {DEFINITIVE: 0.012, PROVISIONAL: 0.018}  # both within 2 % of measures
GAS_DAY_START = time(6)
BARE_DATE_AT = time(12)  # a bare date as "as of": mid-day, yesterday's gas day closed
Record = dict[str, Any]


# --- deterministic randomness and calendar ---------------------------------------------


def _draw(*parts: object) -> float:
    """A uniform number in [0, 1) fixed by `parts`: the sandbox's only randomness."""
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest) / 2**64


def _signed(*parts: object) -> float:
    """A uniform number in [-1, 1) fixed by `parts`."""
    return 2 * _draw(*parts) - 1


def as_instant(as_of: datetime | date) -> datetime:
    """An aware datetime; a naive one is Paris time, a bare date is noon in Paris."""
    if not isinstance(as_of, datetime):
        return datetime.combine(as_of, BARE_DATE_AT, PARIS)
    return as_of if as_of.tzinfo else as_of.replace(tzinfo=PARIS)


@lru_cache(maxsize=4096)
def gas_day_hours(day: date) -> tuple[tuple[datetime, datetime], ...]:
    """The hours of gas day D (06:00 Paris on D to 06:00 on D+1): 23 in spring DST, 25 in autumn."""
    start = datetime.combine(day, GAS_DAY_START, PARIS).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), GAS_DAY_START, PARIS).astimezone(UTC)
    count = round((end - start) / timedelta(hours=1))
    # Step in UTC: adding hours to a Paris datetime would follow the wall clock.
    starts = [start + timedelta(hours=i) for i in range(count + 1)]
    return tuple((a.astimezone(PARIS), b.astimezone(PARIS)) for a, b in pairwise(starts))


def last_closed_day(as_of: datetime | date) -> date:
    """The latest gas day closed at `as_of`: D closes at 06:00 Paris on D+1."""
    local = as_instant(as_of).astimezone(PARIS)
    return local.date() - timedelta(days=1 if local.time() >= GAS_DAY_START else 2)


def first_provisional_day(as_of: datetime | date) -> date:
    """First day of the previous month: days from here on are not settled yet."""
    today = as_instant(as_of).astimezone(PARIS).date()
    return date(today.year - (today.month == 1), (today.month - 2) % 12 + 1, 1)


def status_on(day: date, as_of: datetime | date) -> str:
    return PROVISIONAL if day >= first_provisional_day(as_of) else DEFINITIVE


def _paris_iso(day: date, at: time) -> str:
    return datetime.combine(day, at, PARIS).isoformat()


# --- the contract's points ---------------------------------------------------------------


class PointType(StrEnum):
    DISTRIBUTION = "DELIVERY_DISTRIBUTION"  # PITD: interface with a distribution network
    INDUSTRIAL = "DELIVERY_INDUSTRIAL"  # PLI: an industrial site on the transmission grid
    INTERCONNECTION = "INTERCONNECTION_ENTRY"  # PIR: entry from a neighbouring network
    STORAGE = "STORAGE_ENTRY"  # PITS: withdrawal from a storage group


@dataclass(frozen=True)
class Point:
    code: str
    label: str
    type: PointType
    daily_kwh: int  # typical daily quantity, before season and noise
    winter_swing: float  # heating load: +swing in mid-January, -swing in mid-July

    @property
    def direction(self) -> str:
        return "EXIT" if self.delivery else "ENTRY"

    @property
    def delivery(self) -> bool:
        """Delivery points hold downstream capacities, hence exceedings."""
        return self.type in (PointType.DISTRIBUTION, PointType.INDUSTRIAL)


POINTS: tuple[Point, ...] = (
    Point("PITD-LYON-EST", "Lyon Est (GRDF)", PointType.DISTRIBUTION, 9_000_000, 0.6),
    Point("PITD-DIJON-NORD", "Dijon Nord (GRDF)", PointType.DISTRIBUTION, 4_000_000, 0.6),
    Point("PLI-FOS-CHIMIE", "Fos-sur-Mer chimie", PointType.INDUSTRIAL, 2_400_000, 0.05),
    Point("PLI-DUNKERQUE-ACIER", "Dunkerque aciérie", PointType.INDUSTRIAL, 1_800_000, 0.05),
    Point("PIR-OBERGAILBACH", "Obergailbach", PointType.INTERCONNECTION, 12_000_000, 0.3),
    Point("PITS-ATLANTIQUE", "Stockages Atlantique", PointType.STORAGE, 3_000_000, 0.8),
)
BY_CODE = {point.code: point for point in POINTS}

# Hourly shapes by wall-clock hour of the start (0..23), normalised to a mean of 1.
_RAW_SHAPES = {
    PointType.DISTRIBUTION: [0.6] * 6 + [1.4] * 4 + [1.0] * 7 + [1.3] * 5 + [0.9] * 2,
    PointType.INDUSTRIAL: [0.9] * 6 + [1.05] * 16 + [0.9] * 2,
    PointType.INTERCONNECTION: [1.0] * 24,
    PointType.STORAGE: [0.8] * 6 + [1.1] * 16 + [0.9] * 2,
}
SHAPES = {kind: [w * 24 / sum(raw) for w in raw] for kind, raw in _RAW_SHAPES.items()}
DAILY_NOISE, HOURLY_NOISE, FORECAST_NOISE = 0.08, 0.05, 0.04
WEEKEND_FACTOR = 0.7  # industrial sites run slower on Saturdays and Sundays
DAILY_CAPACITY_MARGIN = 1.02  # above the typical winter peak: only cold, noisy days exceed
HOURLY_CAPACITY_MARGIN = 1.3  # above the mean hour: morning peaks of cold days exceed


def daily_capacity(point: Point) -> int:
    return int(round(point.daily_kwh * (1 + point.winter_swing) * DAILY_CAPACITY_MARGIN, -3))


def hourly_capacity(point: Point) -> int:
    return int(round(daily_capacity(point) / 24 * HOURLY_CAPACITY_MARGIN, -2))


def _season(day: date) -> float:
    """+1 in mid-January, -1 in mid-July."""
    return math.cos(2 * math.pi * (day - date(day.year, 1, 15)).days / 365.25)


def daily_target(seed: int, contract: str, point: Point, day: date) -> float:
    level = point.daily_kwh * (1 + point.winter_swing * _season(day))
    if point.type is PointType.INDUSTRIAL and day.weekday() >= 5:
        level *= WEEKEND_FACTOR
    return level * (1 + DAILY_NOISE * _signed(seed, contract, point.code, day, "day"))


@lru_cache(maxsize=8192)
def hourly_measures(seed: int, contract: str, point_code: str, day: date) -> tuple[int, ...]:
    """kWh per hour of the gas day, rounded per hour so daily sums are exact."""
    point = BY_CODE[point_code]
    per_hour = daily_target(seed, contract, point, day) / 24
    shape = SHAPES[point.type]
    return tuple(
        round(
            per_hour
            * shape[start.hour]
            * (1 + HOURLY_NOISE * _signed(seed, contract, point_code, day, i, "hour"))
        )
        for i, (start, _) in enumerate(gas_day_hours(day))
    )


@lru_cache(maxsize=8192)
def hourly_allocations(
    seed: int, contract: str, point_code: str, day: date, status: str
) -> tuple[int, ...]:
    """Measures moved by less than 2 %, by a different draw once the day is settled."""
    spread = ALLOCATION_SPREAD[status]
    return tuple(
        round(measure * (1 + spread * _signed(seed, contract, point_code, day, i, status)))
        for i, measure in enumerate(hourly_measures(seed, contract, point_code, day))
    )


def daily_forecast(seed: int, contract: str, point: Point, day: date) -> int:
    """The shipper's day-ahead forecast: the day's expected quantity, a few % off."""
    noise = 1 + FORECAST_NOISE * _signed(seed, contract, point.code, day, "forecast")
    hours = len(gas_day_hours(day))
    return round(daily_target(seed, contract, point, day) * hours / 24 * noise)


@dataclass(frozen=True)
class Notice:
    """An operational capacity notice: a week of reduced capacity at an entry point."""

    notice_id: str
    capacity: int
    reason: str
    published: str


_NOTICE_REASONS = ("MAINTENANCE", "UPSTREAM_CONSTRAINT", "QUALITY", "COMPRESSOR_OUTAGE")
NOTICE_SHARE = 0.2  # of (entry point, week) pairs


def operational_notice(seed: int, contract: str, point: Point, day: date) -> Notice | None:
    if point.delivery:
        return None
    monday = day - timedelta(days=day.weekday())
    if _draw(seed, contract, point.code, monday, "notice") >= NOTICE_SHARE:
        return None
    peak = point.daily_kwh * (1 + point.winter_swing)
    share = 0.6 + 0.3 * _draw(seed, contract, point.code, monday, "notice-capacity")
    reason = _NOTICE_REASONS[int(_draw(seed, point.code, monday, "reason") * 4)]
    friday_before = monday - timedelta(days=3)
    return Notice(
        notice_id=f"ON-{monday:%Y%m%d}-{point.code}",
        capacity=int(round(peak * share, -3)),
        reason=reason,
        published=_paris_iso(friday_before, time(11)),
    )


# --- records: one builder per endpoint ----------------------------------------------------


def _record(endpoint: Endpoint, **values: Any) -> Record:
    """A record with exactly the endpoint table's fields, in its order."""
    names = [field.name for field in endpoint.fields]
    if set(values) != set(names):
        raise ValueError(f"{endpoint.name}: fields {sorted(values)} differ from table {names}")
    return {name: values[name] for name in names}


@dataclass(frozen=True)
class GasDay:
    """What one day's builders need: the contract, the day and its status at `as_of`."""

    seed: int
    contract: str
    day: date
    status: str

    @property
    def hours(self) -> tuple[tuple[datetime, datetime], ...]:
        return gas_day_hours(self.day)

    def measures(self, point: Point) -> tuple[int, ...]:
        return hourly_measures(self.seed, self.contract, point.code, self.day)

    def allocations(self, point: Point) -> tuple[int, ...]:
        return hourly_allocations(self.seed, self.contract, point.code, self.day, self.status)

    def forecast(self, point: Point) -> int:
        return daily_forecast(self.seed, self.contract, point, self.day)

    def hour_fields(self, index: int) -> dict[str, str]:
        start, end = self.hours[index]
        day = self.day.isoformat()
        return {"gasDay": day, "startDateTime": start.isoformat(), "endDateTime": end.isoformat()}


def _contract_period() -> dict[str, str]:
    return {"startGasDay": CONTRACT_START.isoformat(), "endGasDay": CONTRACT_END.isoformat()}


def _points(*types: PointType) -> list[Point]:
    return [point for point in POINTS if point.type in types]


# Reference data (snapshots) ------------------------------------------------------------


def _upstream_allocated_capacities(ep: Endpoint, seed: int, contract: str) -> Iterator[Record]:
    for point in _points(PointType.INTERCONNECTION, PointType.STORAGE):
        peak = point.daily_kwh * (1 + point.winter_swing)
        kinds = {"FIRM": 1.1, "INTERRUPTIBLE": 0.2}
        for kind, share in kinds.items():
            if kind == "INTERRUPTIBLE" and point.type is PointType.STORAGE:
                continue  # storage entry is sold firm only
            yield _record(
                ep,
                capacityId=f"UAC-{point.code}-{kind}",
                pointCode=point.code,
                pointLabel=point.label,
                direction=point.direction,
                capacityType=kind,
                **_contract_period(),
                allocatedCapacity=float(round(peak * share, -3)),
                unit=DAILY_RATE,
            )


def _standardized_capacity_subscriptions(
    ep: Endpoint, seed: int, contract: str
) -> Iterator[Record]:
    # Distribution interfaces are subscribed yearly, at their downstream capacity.
    for point in _points(PointType.DISTRIBUTION):
        yield _record(
            ep,
            subscriptionId=f"SCS-{point.code}-YEARLY",
            pointCode=point.code,
            product="YEARLY",
            **_contract_period(),
            subscribedCapacity=float(daily_capacity(point)),
            unit=DAILY_RATE,
        )


def _downstream_allocated_capacities(ep: Endpoint, seed: int, contract: str) -> Iterator[Record]:
    for point in POINTS:
        if point.delivery:
            yield _record(
                ep,
                capacityId=f"DAC-{point.code}",
                pointCode=point.code,
                pointLabel=point.label,
                **_contract_period(),
                dailyCapacity=float(daily_capacity(point)),
                hourlyCapacity=float(hourly_capacity(point)),
                unit=ENERGY,
            )


_SERVICES = (  # id, code, label, status, last gas day
    ("SRV-001", "BALANCING", "Équilibrage zone TRF", "ACTIVE", CONTRACT_END),
    ("SRV-002", "HOURLY-NOMINATION", "Nominations horaires", "ACTIVE", CONTRACT_END),
    ("SRV-003", "STORAGE-LINK", "Accès stockages (PITS)", "INACTIVE", date(2022, 3, 31)),
)


def _services(ep: Endpoint, seed: int, contract: str) -> Iterator[Record]:
    for service_id, code, label, status, end in _SERVICES:
        yield _record(
            ep,
            serviceId=service_id,
            serviceCode=code,
            serviceLabel=label,
            status=status,
            startGasDay=CONTRACT_START.isoformat(),
            endGasDay=end.isoformat(),
        )


_MAINTENANCE_WORKS = ("Inspection de canalisation", "Révision de compresseur", "Travaux poste")


def _consolidated_maintenance_programs(ep: Endpoint, seed: int, contract: str) -> Iterator[Record]:
    """One summer works period a year, at a point drawn from the seed."""
    for year in range(2024, 2028):
        point = POINTS[int(_draw(seed, contract, year, "works-point") * len(POINTS))]
        start = date(year, 6, 1) + timedelta(days=int(_draw(seed, contract, year, "works") * 90))
        length = 2 + int(_draw(seed, contract, year, "works-length") * 5)
        share = 0.3 + 0.5 * _draw(seed, contract, year, "works-cut")
        yield _record(
            ep,
            maintenanceId=f"MP-{year}-{point.code}",
            pointCode=point.code,
            pointLabel=point.label,
            startGasDay=start.isoformat(),
            endGasDay=(start + timedelta(days=length - 1)).isoformat(),
            capacityReduction=float(round(point.daily_kwh * share, -3)),
            unit=DAILY_RATE,
            description=_MAINTENANCE_WORKS[year % len(_MAINTENANCE_WORKS)],
        )


def _supply_links(ep: Endpoint, seed: int, contract: str) -> Iterator[Record]:
    for number, point in enumerate(POINTS, start=1):
        yield _record(
            ep,
            supplyLinkId=f"SL-{number:03d}",
            pointCode=point.code,
            pointLabel=point.label,
            pointType=point.type.value,
            **_contract_period(),
        )


def pce_code(seed: int, point: Point, meter: int) -> str:
    """A 14-digit PCE number, as GRDF and GRTgaz write them."""
    return f"{int(_draw(seed, point.code, meter, 'pce') * 10**14):014d}"


def _pce_connection_links(ep: Endpoint, seed: int, contract: str) -> Iterator[Record]:
    # Industrial sites have meters (PCE) of their own; distribution interfaces do not.
    for point in _points(PointType.INDUSTRIAL):
        for meter in (1, 2):
            yield _record(
                ep,
                pceCode=pce_code(seed, point, meter),
                pointCode=point.code,
                siteLabel=f"{point.label} - compteur {meter}",
                **_contract_period(),
            )


# Daily resources ------------------------------------------------------------------------


def _confirmation_notice(ep: Endpoint, g: GasDay) -> Iterator[Record]:
    for point in POINTS:
        nominated = g.forecast(point)
        notice = operational_notice(g.seed, g.contract, point, g.day)
        confirmed = min(nominated, notice.capacity) if notice else nominated
        yield _record(
            ep,
            gasDay=g.day.isoformat(),
            pointCode=point.code,
            direction=point.direction,
            nominatedQuantity=float(nominated),
            confirmedQuantity=float(confirmed),
            unit=ENERGY,
            confirmationDateTime=_paris_iso(g.day - timedelta(days=1), time(16)),
        )


def _operational_notices(ep: Endpoint, g: GasDay) -> Iterator[Record]:
    for point in POINTS:
        if notice := operational_notice(g.seed, g.contract, point, g.day):
            yield _record(
                ep,
                noticeId=notice.notice_id,
                gasDay=g.day.isoformat(),
                pointCode=point.code,
                direction=point.direction,
                operationalCapacity=float(notice.capacity),
                unit=DAILY_RATE,
                reason=notice.reason,
                publicationDateTime=notice.published,
            )


def _daily_measures(ep: Endpoint, g: GasDay) -> Iterator[Record]:
    for point in POINTS:
        quantity = float(sum(g.measures(point)))
        yield _record(
            ep,
            gasDay=g.day.isoformat(),
            pointCode=point.code,
            quantity=quantity,
            unit=ENERGY,
            status=g.status,
        )


def _hourly_measures(ep: Endpoint, g: GasDay) -> Iterator[Record]:
    for point in POINTS:
        for i, quantity in enumerate(g.measures(point)):
            yield _record(
                ep,
                **g.hour_fields(i),
                pointCode=point.code,
                quantity=float(quantity),
                unit=ENERGY,
                status=g.status,
            )


def _daily_allocations(ep: Endpoint, g: GasDay) -> Iterator[Record]:
    for point in POINTS:
        yield _record(
            ep,
            gasDay=g.day.isoformat(),
            pointCode=point.code,
            allocatedQuantity=float(sum(g.allocations(point))),
            unit=ENERGY,
            status=g.status,
        )


def _hourly_allocations(ep: Endpoint, g: GasDay) -> Iterator[Record]:
    for point in POINTS:
        for i, allocated in enumerate(g.allocations(point)):
            yield _record(
                ep,
                **g.hour_fields(i),
                pointCode=point.code,
                allocatedQuantity=float(allocated),
                unit=ENERGY,
                status=g.status,
            )


def _daily_imbalances(ep: Endpoint, g: GasDay) -> Iterator[Record]:
    allocated = sum(sum(g.allocations(point)) for point in POINTS)
    forecast = sum(g.forecast(point) for point in POINTS)
    yield _record(
        ep,
        gasDay=g.day.isoformat(),
        balancingZone=BALANCING_ZONE,
        allocatedQuantity=float(allocated),
        forecastQuantity=float(forecast),
        imbalanceQuantity=float(allocated - forecast),
        toleranceQuantity=float(round(forecast * TOLERANCE_SHARE)),
        unit=ENERGY,
        status=g.status,
    )


def _daily_exceeding(ep: Endpoint, g: GasDay) -> Iterator[Record]:
    for point in _points(PointType.DISTRIBUTION, PointType.INDUSTRIAL):
        allocated, capacity = sum(g.allocations(point)), daily_capacity(point)
        if allocated > capacity:
            yield _record(
                ep,
                gasDay=g.day.isoformat(),
                pointCode=point.code,
                capacity=float(capacity),
                allocatedQuantity=float(allocated),
                exceedingQuantity=float(allocated - capacity),
                unit=ENERGY,
            )


def _hourly_exceeding(ep: Endpoint, g: GasDay) -> Iterator[Record]:
    for point in _points(PointType.DISTRIBUTION, PointType.INDUSTRIAL):
        capacity = hourly_capacity(point)
        for i, allocated in enumerate(g.allocations(point)):
            if allocated > capacity:
                yield _record(
                    ep,
                    **g.hour_fields(i),
                    pointCode=point.code,
                    capacity=float(capacity),
                    allocatedQuantity=float(allocated),
                    exceedingQuantity=float(allocated - capacity),
                    unit=ENERGY,
                )


def _common_indicators(ep: Endpoint, g: GasDay) -> Iterator[Record]:
    """Zone-wide prices: a seasonal level, daily noise, buy above and sell below."""
    draw = _signed(g.seed, g.day, "price")
    average = 32 + 10 * _season(g.day) + 4 * draw
    spread = 0.025 + 0.01 * _draw(g.seed, g.day, "spread")
    yield _record(
        ep,
        gasDay=g.day.isoformat(),
        balancingZone=BALANCING_ZONE,
        systemImbalanceQuantity=float(round(20_000_000 * _signed(g.seed, g.day, "system"))),
        unit=ENERGY,
        weightedAveragePrice=round(average, 3),
        marginalBuyPrice=round(average * (1 + spread), 3),
        marginalSellPrice=round(average * (1 - spread), 3),
        priceUnit=PRICE_UNIT,
    )


def _daily_contractual_forecasts(ep: Endpoint, g: GasDay) -> Iterator[Record]:
    for point in POINTS:
        yield _record(
            ep,
            gasDay=g.day.isoformat(),
            pointCode=point.code,
            forecastQuantity=float(g.forecast(point)),
            unit=ENERGY,
            forecastDateTime=_paris_iso(g.day - timedelta(days=1), time(14)),
        )


INTRADAY_PUBLICATIONS = (4, 8, 12, 16, 20)  # hours after the gas day's start


def _intraday_distributed_quantities(ep: Endpoint, g: GasDay) -> Iterator[Record]:
    """The zone's distributed quantity for the day, re-estimated as the day goes on."""
    start = g.hours[0][0].astimezone(UTC)
    actual = 1.2e9 * (1 + 0.6 * _season(g.day)) * (1 + 0.05 * _signed(g.seed, g.day, "distrib"))
    for rank, offset in enumerate(INTRADAY_PUBLICATIONS):
        error = 0.04 * (1 - rank / len(INTRADAY_PUBLICATIONS))  # estimates converge
        estimate = actual * (1 + error * _signed(g.seed, g.day, offset, "estimate"))
        yield _record(
            ep,
            gasDay=g.day.isoformat(),
            publicationDateTime=(start + timedelta(hours=offset)).astimezone(PARIS).isoformat(),
            distributedQuantity=float(round(estimate)),
            unit=ENERGY,
        )


def _balancing_hourly_allocations(ep: Endpoint, g: GasDay) -> Iterator[Record]:
    per_point = [g.allocations(point) for point in POINTS]
    for i, allocated in enumerate(zip(*per_point, strict=True)):
        yield _record(
            ep,
            **g.hour_fields(i),
            balancingZone=BALANCING_ZONE,
            allocatedQuantity=float(sum(allocated)),
            unit=ENERGY,
            status=g.status,
        )


SnapshotBuilder = Callable[[Endpoint, int, str], Iterable[Record]]
DayBuilder = Callable[[Endpoint, GasDay], Iterable[Record]]
SNAPSHOT_BUILDERS: dict[str, SnapshotBuilder] = {
    "upstream_allocated_capacities": _upstream_allocated_capacities,
    "standardized_capacity_subscriptions": _standardized_capacity_subscriptions,
    "downstream_allocated_capacities": _downstream_allocated_capacities,
    "services": _services,
    "consolidated_maintenance_programs": _consolidated_maintenance_programs,
    "supply_links": _supply_links,
    "pce_connection_links": _pce_connection_links,
}
DAY_BUILDERS: dict[str, DayBuilder] = {
    "confirmation_notice": _confirmation_notice,
    "operational_notices": _operational_notices,
    "daily_measures": _daily_measures,
    "hourly_measures": _hourly_measures,
    "daily_allocations": _daily_allocations,
    "hourly_allocations": _hourly_allocations,
    "daily_imbalances": _daily_imbalances,
    "daily_exceeding": _daily_exceeding,
    "hourly_exceeding": _hourly_exceeding,
    "common_indicators": _common_indicators,
    "daily_contractual_forecasts": _daily_contractual_forecasts,
    "intraday_distributed_quantities": _intraday_distributed_quantities,
    "balancing_hourly_allocations": _balancing_hourly_allocations,
}


# --- serving and ground truth ---------------------------------------------------------------


def sort_key(endpoint: Endpoint) -> Callable[[Record], tuple[Any, ...]]:
    """Order by the endpoint's key; timestamps as instants (02:00+02:00 before 02:00+01:00)."""
    kinds = {field.name: field.kind for field in endpoint.fields}

    def key(record: Record) -> tuple[Any, ...]:
        return tuple(
            datetime.fromisoformat(record[name]) if kinds[name] is Kind.TIMESTAMP else record[name]
            for name in endpoint.key
        )

    return key


def closed_days(first_day: date, last_day: date, as_of: datetime | date) -> list[date]:
    """The days of [first_day, last_day] that have data at `as_of`."""
    first, last = max(first_day, CONTRACT_START), min(last_day, last_closed_day(as_of))
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


@dataclass(frozen=True)
class IngridData:
    """The data of every contract for one seed, as the sandbox serves it."""

    seed: int = DEFAULT_SEED

    def records(
        self,
        endpoint_name: str,
        contract_code: str,
        first_day: date | None,
        last_day: date | None,
        as_of: datetime | date,
    ) -> list[Record]:
        """Every record of a resource, in key order; dates are ignored for snapshots."""
        endpoint = BY_NAME[endpoint_name]
        if not endpoint.dated:
            rows = SNAPSHOT_BUILDERS[endpoint.name](endpoint, self.seed, contract_code)
            return sorted(rows, key=sort_key(endpoint))
        if first_day is None or last_day is None:
            raise ValueError(f"{endpoint_name} is dated: give first_day and last_day")
        build = DAY_BUILDERS[endpoint.name]
        rows = [
            row
            for day in closed_days(first_day, last_day, as_of)
            for row in build(endpoint, GasDay(self.seed, contract_code, day, status_on(day, as_of)))
        ]
        return sorted(rows, key=sort_key(endpoint))


def expected_records(
    endpoint_name: str,
    first_day: date | None,
    last_day: date | None,
    as_of: datetime | date,
    *,
    seed: int = DEFAULT_SEED,
    contract_code: str = DEFAULT_CONTRACT,
) -> list[Record]:
    """What the sandbox serves for a resource and range at `as_of`: the tests' truth."""
    return IngridData(seed).records(endpoint_name, contract_code, first_day, last_day, as_of)
