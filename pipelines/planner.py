"""Which ADICT calls to make: pure functions from access rights and a range of gas days.

Quota is the scarce resource (ADICT answers a whole window in one call, and costs per
call), so the plan is one call per PCE per window of at most 3 years (informative) or 5
years (published, injection), clipped to what the right opens and to what GRDF accepts:
an Active right valid today, the data type in its perimeter, its perimeter dates, the
history limit, and nothing later than yesterday. Any other call would only burn quota.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from resources.adict import ENDPOINTS, Endpoint
from warehouse.columns import parse_flag
from warehouse.gasday import window_minus

ACTIVE = "active"


@dataclass(frozen=True)
class AccessRight:
    """The parts of an ADICT access right that decide what may be asked."""

    id_pce: str
    role_tiers: str
    etat: str
    valid_from: date | None
    valid_to: date | None
    perimeter: frozenset[str]  # the perim_donnees_* flags that are true
    bounds: Mapping[str, date | None]  # perim_donnees_{conso,inj}_{debut,fin}


@dataclass(frozen=True, order=True)
class PlannedCall:
    dataset: str
    id_pce: str
    first_day: date
    last_day: date

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1


def parse_day(value: object) -> date | None:
    """A Swagger `date` that may hold a date, a datetime, or nothing."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def right_from_record(record: Mapping[str, Any]) -> AccessRight:
    flags = ("contractuelles", "techniques", "informatives", "publiees")
    bound_names = ("conso_debut", "conso_fin", "inj_debut", "inj_fin")
    return AccessRight(
        id_pce=str(record["id_pce"]),
        role_tiers=str(record.get("role_tiers") or "").strip().upper().replace(" ", "_"),
        etat=str(record.get("etat_droit_acces") or ""),
        valid_from=parse_day(record.get("date_debut_droit_acces")),
        valid_to=parse_day(record.get("date_fin_droit_acces")),
        perimeter=frozenset(
            f"perim_donnees_{f}" for f in flags if parse_flag(record.get(f"perim_donnees_{f}"))
        ),
        bounds={
            f"perim_donnees_{b}": parse_day(record.get(f"perim_donnees_{b}")) for b in bound_names
        },
    )


def years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def years_after(day: date, years: int) -> date:
    return years_before(day, -years)


def opens(right: AccessRight, endpoint: Endpoint, today: date) -> bool:
    """True when a call for this endpoint would be answered with data, not a refusal."""
    return (
        right.etat.strip().casefold() == ACTIVE
        and (right.valid_from is None or right.valid_from <= today)
        and (right.valid_to is None or today <= right.valid_to)
        and (endpoint.perimeter_flag is None or endpoint.perimeter_flag in right.perimeter)
        and (not endpoint.roles or right.role_tiers in endpoint.roles)
    )


def clip_window(
    right: AccessRight, endpoint: Endpoint, first: date, last: date, today: date
) -> tuple[date, date] | None:
    """[first, last] cut to the right's data dates, the history limit and yesterday."""
    lower, upper = first, min(last, today - timedelta(days=1))
    if endpoint.history_years is not None:
        lower = max(lower, years_before(today, endpoint.history_years))
    if endpoint.perimeter_dates is not None:
        start_field, end_field = endpoint.perimeter_dates
        if right.bounds.get(start_field):
            lower = max(lower, right.bounds[start_field])  # type: ignore[type-var]
        if right.bounds.get(end_field):
            upper = min(upper, right.bounds[end_field])  # type: ignore[type-var]
    return (lower, upper) if lower <= upper else None


def split_window(first: date, last: date, years: int) -> list[tuple[date, date]]:
    """Cut [first, last] into windows GRDF accepts: `date_fin` (last + 1) within N years."""
    windows = []
    while first <= last:
        end = min(last, years_after(first, years) - timedelta(days=1))
        windows.append((first, end))
        first = end + timedelta(days=1)
    return windows


def merge_windows(windows: Iterable[tuple[date, date]]) -> list[tuple[date, date]]:
    merged: list[tuple[date, date]] = []
    for start, end in sorted(windows):
        if merged and start <= merged[-1][1] + timedelta(days=1):
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def plan_calls(
    dataset: str, rights: Iterable[AccessRight], first: date, last: date, today: date
) -> list[PlannedCall]:
    """The fewest calls that cover [first, last] for every PCE a right opens."""
    endpoint = ENDPOINTS[dataset]
    per_pce: dict[str, list[tuple[date, date]]] = defaultdict(list)
    for right in rights:
        if not opens(right, endpoint, today):
            continue
        window = clip_window(right, endpoint, first, last, today)
        if window is not None:
            per_pce[right.id_pce].append(window)
    years = endpoint.history_years or 1
    return sorted(
        PlannedCall(dataset, id_pce, start, end)
        for id_pce, windows in per_pce.items()
        for merged in merge_windows(windows)
        for start, end in split_window(*merged, years)
    )


def reclip(call: PlannedCall, today: date) -> PlannedCall | None:
    """The call as GRDF accepts it today: a run that crosses midnight must move its
    first day with the history limit (`date_debut` >= today - N years)."""
    years = ENDPOINTS[call.dataset].history_years
    if years is None:
        return call
    first = max(call.first_day, years_before(today, years))
    return replace(call, first_day=first) if first <= call.last_day else None


def pces_opened(dataset: str, rights: Iterable[AccessRight], today: date) -> list[str]:
    """PCEs whose right opens an undated document (contractual or technical data)."""
    endpoint = ENDPOINTS[dataset]
    return sorted({r.id_pce for r in rights if opens(r, endpoint, today)})


# --- what was already answered ------------------------------------------------------

# GRDF restates recent data (provisional -> definitive after month end, late readings):
# an answer whose days could still change is only trusted the day it was fetched. Days
# before this many months before the fetch month are settled (informative data turns
# definitive in the first working days of M+1; published data is rectified for longer).
SETTLED_AFTER_MONTHS = {
    "informative_consumption": 2,
    "published_consumption": 3,
    "published_injection": 3,
}


def settled_before(dataset: str, fetched_on: date) -> date:
    """The first day that could still be restated, seen from `fetched_on`."""
    months = SETTLED_AFTER_MONTHS.get(dataset, 0)
    month_index = fetched_on.year * 12 + fetched_on.month - 1 - months
    return date(month_index // 12, month_index % 12 + 1, 1)


def settled_part(
    dataset: str, window: tuple[date, date], fetched_on: date, today: date
) -> tuple[date, date] | None:
    """The part of an answered window that still stands today: all of it if fetched
    today, else the days that were settled when it was fetched (the rest is re-read)."""
    if fetched_on == today:
        return window
    end = min(window[1], settled_before(dataset, fetched_on) - timedelta(days=1))
    return (window[0], end) if window[0] <= end else None


def subtract_answered(
    calls: Iterable[PlannedCall], answered: Mapping[str, list[tuple[date, date]]]
) -> list[PlannedCall]:
    """The parts of the planned calls that no fresh answer covers yet: PCEs never answered
    first, so a backfill spread over several days' budgets reaches every PCE before it
    re-reads the recent, restatable days of those it already has."""
    remaining = []
    for call in calls:
        gaps = [(call.first_day, call.last_day)]
        for start, end in merge_windows(answered.get(call.id_pce, [])):
            gaps = [piece for gap in gaps for piece in window_minus(gap, (start, end))]
        remaining += [PlannedCall(call.dataset, call.id_pce, a, b) for a, b in gaps]
    return sorted(remaining, key=lambda c: c.id_pce in answered)
