"""What the operator commands do (`gazoduc plan`, `reparse`, `quota`), without the CLI."""

from __future__ import annotations

import math
import time
from collections import defaultdict
from contextlib import suppress
from dataclasses import dataclass
from datetime import date

from pipelines.partitions import PARIS, month_key, paris_today
from pipelines.planner import (
    plan_calls,
    right_from_record,
    settled_part,
    split_window,
    subtract_answered,
    window_minus,
)
from resources.adict import (
    API,
    ENDPOINTS,
    PARTIAL,
    BlockKind,
    RawAnswer,
    outcome_from_answer,
    quota_tier,
    read_records,
    read_window,
)
from resources.warehouse import WarehouseResource
from warehouse.adict import TABLES
from warehouse.build import (
    BuildResult,
    build_days,
    build_snapshot,
    build_whole_snapshot,
    build_windows,
)
from warehouse.raw import Answer, DamagedAnswer, RawZone


@dataclass(frozen=True)
class Plan:
    dataset: str
    first: date
    last: date
    pces: int
    minimum: int  # one call per PCE per window GRDF accepts
    needed: int  # minus what fresh stored answers already cover
    calls_per_second: float
    calls_per_day: int
    left_today: int

    @property
    def quota_days(self) -> int:
        """Days of budget it takes, today's remainder first."""
        beyond_today = max(0, self.needed - self.left_today)
        return (1 if self.needed else 0) + math.ceil(beyond_today / self.calls_per_day)

    @property
    def eta_seconds(self) -> float:
        return self.needed / self.calls_per_second

    def lines(self) -> list[str]:
        return [
            f"{self.dataset} {self.first}..{self.last}",
            f"  eligible PCEs          {self.pces:>10,}",
            f"  calls needed           {self.needed:>10,}  (fresh stored answers subtracted)",
            f"  theoretical minimum    {self.minimum:>10,}  (one per PCE per GRDF window)",
            f"  budget left today      {self.left_today:>10,}  of {self.calls_per_day:,}",
            f"  days of quota          {self.quota_days:>10,}",
            f"  ETA at {self.calls_per_second:g} call/s       {_duration(self.eta_seconds):>10}",
        ]


def plan_for_rights(
    warehouse: WarehouseResource,
    dataset: str,
    first: date,
    last: date,
    calls_per_second: float,
    calls_per_day: int,
    left_today: int,
) -> Plan:
    """The calls a run over [first, last] would make with the latest access rights."""
    today = paris_today()
    rights = [right_from_record(r) for r in warehouse.latest_access_rights()]
    planned = plan_calls(dataset, rights, first, last, today)
    answered = fresh_windows(warehouse.raw_zone(), dataset, first, last, today)
    needed = subtract_answered(planned, answered)
    pces = len({c.id_pce for c in planned})
    return Plan(
        dataset,
        first,
        last,
        pces,
        len(planned),
        len(needed),
        calls_per_second,
        calls_per_day,
        left_today,
    )


def plan_for_portfolio(dataset: str, first: date, last: date, portfolio: int) -> Plan:
    """What if: `portfolio` PCEs whose rights open the whole range, at their tier's quota."""
    years = ENDPOINTS[dataset].history_years or 1
    per_pce = len(split_window(first, min(last, paris_today()), years))
    calls_per_second, calls_per_day = quota_tier(portfolio)
    calls = portfolio * per_pce
    return Plan(
        dataset,
        first,
        last,
        portfolio,
        calls,
        calls,
        calls_per_second,
        calls_per_day,
        calls_per_day,
    )


def fresh_windows(
    raw: RawZone, dataset: str, first: date, last: date, today: date
) -> dict[str, list[tuple[date, date]]]:
    """Windows answered already (an earlier run, killed or out of budget): not asked again."""
    windows: dict[str, list[tuple[date, date]]] = defaultdict(list)
    for answer in raw.answers(API, dataset, None, first, last):
        fetched_on = answer.fetched_at.astimezone(PARIS).date()
        if answer.outcome == BlockKind.NOT_ALLOWED:
            if fetched_on == today:  # a refusal stands for the day: a right can be fixed
                windows[answer.scope].append((answer.first_day, answer.last_day))
            continue
        for served in served_windows(raw, answer):
            if standing := settled_part(dataset, served, fetched_on, today):
                windows[answer.scope].append(standing)
    return dict(windows)


def served_windows(raw: RawZone, answer: Answer) -> list[tuple[date, date]]:
    """The gas days an answer really served: its window, minus blocks GRDF failed."""
    served = [(answer.first_day, answer.last_day)]
    if answer.outcome != PARTIAL:
        return served
    try:
        stored = RawAnswer(answer.first_day, answer.last_day, raw.read(answer))
    except DamagedAnswer:  # set aside: its days are asked again
        return []
    for gap in outcome_from_answer(answer.dataset, answer.scope, stored).unserved_periods:
        served = [piece for span in served for piece in window_minus(span, gap)]
    return served


@dataclass(frozen=True)
class Reparsed:
    result: BuildResult
    seconds: float
    set_aside: list[Answer]  # damaged answers skipped (the next run asks for them again)


def reparse(warehouse: WarehouseResource, dataset: str) -> Reparsed:
    """Rebuild a curated table from every stored answer, without a call."""
    raw, spec = warehouse.raw_zone(), TABLES[dataset]
    table = warehouse.table(spec)
    answers = raw.answers(API, dataset)
    started = time.perf_counter()
    if ENDPOINTS[dataset].history_years is not None:
        first = min((a.first_day for a in answers), default=date.max)
        last = max((a.last_day for a in answers), default=date.min)
        result = build_windows(table, raw, answers, first, last, read_window)
    else:
        result = _rebuild_snapshots(warehouse, raw, dataset, answers)
    return Reparsed(result, time.perf_counter() - started, raw.set_aside)


def reparse_sfm(warehouse: WarehouseResource, dataset: str) -> Reparsed:
    """The same for an SFM table: every stored capture, or each site-day's newest program."""
    from assets.sfm import SITE_DAY_ROWS, build_site_days, land_captures
    from resources.sfm import API as SFM
    from warehouse.sfm import TABLES as SFM_TABLES

    raw, table = warehouse.raw_zone(), warehouse.table(SFM_TABLES[dataset])
    answers = raw.answers(SFM, dataset)
    started = time.perf_counter()
    if dataset in SITE_DAY_ROWS:
        first = min((a.first_day for a in answers), default=date.max)
        last = max((a.last_day for a in answers), default=date.min)
        rows = build_site_days(table, raw, dataset, first, last, SITE_DAY_ROWS[dataset])
    else:
        rows = land_captures(table, raw, answers) if answers else 0
    result = BuildResult(rows, len(answers), len(table.partitions()))
    return Reparsed(result, time.perf_counter() - started, raw.set_aside)


def reparse_asset(warehouse: WarehouseResource, asset: str) -> Reparsed:
    """`gazoduc reparse SOURCE/TABLE`: the table rebuilt from the raw zone, 0 calls."""
    from resources.ingrid_endpoints import BY_NAME
    from warehouse.sfm import TABLES as SFM_TABLES

    source, _, name = asset.partition("/")
    if source == "adict" and name in ENDPOINTS:
        return reparse(warehouse, name)
    if source == "ingrid" and name in BY_NAME:
        return reparse_ingrid(warehouse, name)
    if source == "sfm" and name in SFM_TABLES:
        return reparse_sfm(warehouse, name)
    raise ValueError(f"unknown asset {asset!r}: one of {', '.join(reparsable())}")


def reparsable() -> list[str]:
    """Every table a reparse rebuilds, in an order that lands what others read first (the
    access rights, which the rights' events and the checks read)."""
    from resources.ingrid_endpoints import BY_NAME
    from warehouse.sfm import TABLES as SFM_TABLES

    return [
        *(f"adict/{name}" for name in ENDPOINTS),
        *(f"ingrid/{name}" for name in BY_NAME),
        *(f"sfm/{name}" for name in SFM_TABLES),
    ]


def reparse_all(warehouse: WarehouseResource) -> dict[str, Reparsed]:
    """Every table rebuilt from the raw zone, 0 calls: how a home of an older layout, or a
    lost warehouse, comes back. The rights' events are derived, recomputed last."""
    from assets.adict import land_right_events

    done = {asset: reparse_asset(warehouse, asset) for asset in reparsable()}
    land_right_events(warehouse)
    return done


def reparse_ingrid(warehouse: WarehouseResource, dataset: str) -> Reparsed:
    """The same for an Ingrid resource: every stored range, newest answer per gas day."""
    from resources.ingrid import API as INGRID
    from resources.ingrid import read_records as read_ingrid
    from resources.ingrid_endpoints import BY_NAME
    from resources.ingrid_endpoints import TABLES as INGRID_TABLES

    raw, table = warehouse.raw_zone(), warehouse.table(INGRID_TABLES[dataset])
    answers = raw.answers(INGRID, dataset)
    started = time.perf_counter()
    if BY_NAME[dataset].dated:
        first = min((a.first_day for a in answers), default=date.max)
        last = max((a.last_day for a in answers), default=date.min)
        result = build_days(table, raw, answers, first, last, read_ingrid)
    else:  # one snapshot per day: the day's newest answer
        newest = {a.first_day: a for a in answers}
        rows = 0
        for day, answer in newest.items():
            with suppress(DamagedAnswer):  # set aside; named in raw.set_aside
                rows += build_whole_snapshot(table, raw, answer, day.isoformat(), read_ingrid)
        result = BuildResult(rows, len(newest), len(newest))
    return Reparsed(result, time.perf_counter() - started, raw.set_aside)


def _rebuild_snapshots(
    warehouse: WarehouseResource, raw: RawZone, dataset: str, answers: list[Answer]
) -> BuildResult:
    # Rights are a daily snapshot, documents a monthly one: group the answers likewise.
    daily = dataset == "access_rights"
    groups: dict[str, list[Answer]] = defaultdict(list)
    for answer in answers:
        groups[answer.first_day.isoformat() if daily else month_key(answer.first_day)].append(
            answer
        )
    table = warehouse.table(TABLES[dataset])
    results = [
        build_snapshot(table, raw, group, key, warehouse.keep_personal_data, read_records)
        for key, group in sorted(groups.items())
    ]
    return BuildResult(
        sum(r.rows for r in results),
        sum(r.answers for r in results),
        sum(r.partitions for r in results),
    )


def _duration(seconds: float) -> str:
    hours, rest = divmod(int(seconds), 3600)
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h" if days else f"{hours}h{rest // 60:02d}m"
