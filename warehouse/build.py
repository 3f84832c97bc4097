"""Curated partitions rebuilt from the raw zone, without a single call.

A run first stores every answer it fetches (raw zone), then builds the curated rows of
the requested range from the stored answers: the freshly fetched ones and those an
earlier, interrupted run left. `gazoduc reparse` runs the build alone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc

from warehouse.gasday import gas_day_of, month_bounds, month_key, window_minus
from warehouse.lake_table import LakeTable, Landing
from warehouse.raw import Answer, DamagedAnswer, RawZone

# Answers that served days (possibly none): their days replace the rows landed before.
# A refusal (not_allowed) serves nothing and replaces nothing.
SERVING = frozenset({"data", "no_data", "empty", "partial"})


class ParsedWindow(Protocol):
    """A windowed answer as its source's client reads it back from the raw zone."""

    @property
    def blocks(self) -> Sequence[dict[str, Any]]: ...  # the records, one per block

    @property
    def unserved_periods(self) -> Sequence[tuple[date, date]]: ...  # days it says nothing of


# How a source reads a stored answer's body back (its client's parser): the warehouse
# knows tables, not upstream formats.
ReadWindow = Callable[[Answer, bytes], ParsedWindow]
ReadRecords = Callable[[Answer, bytes], Sequence[dict[str, Any]]]


@dataclass(frozen=True)
class BuildResult:
    rows: int
    answers: int
    partitions: int


def build_windows(
    table: LakeTable,
    raw: RawZone,
    answers: Sequence[Answer],
    first: date,
    last: date,
    read: ReadWindow,
) -> BuildResult:
    """Rows of gas days [first, last] from windowed answers (consumption, injection).

    Per PCE, a newer answer wins over an older one on the days it covers, so a restated
    day replaces the old row. Only the days an answer really served are replaced: a
    refusal, or a block GRDF failed to serve, leaves the rows already landed in place.
    """
    by_pce: dict[str, list[Answer]] = defaultdict(list)
    for answer in answers:
        if answer.outcome in SERVING:
            by_pce[answer.scope].append(answer)
    rows = 0
    with table.landing(months_between) as landing:
        for own in by_pce.values():
            covered: list[tuple[date, date]] = []
            for answer in sorted(own, key=lambda a: a.fetched_at, reverse=True):
                try:
                    rows += _stage_answer(
                        landing, raw.read(answer), answer, (first, last), covered, read
                    )
                except DamagedAnswer:  # set aside: older answers serve its days meanwhile
                    continue
    return BuildResult(rows, sum(len(a) for a in by_pce.values()), len(landing.partitions))


def _stage_answer(
    landing: Landing,
    body: bytes,
    answer: Answer,
    bounds: tuple[date, date],
    covered: list[tuple[date, date]],
    read: ReadWindow,
) -> int:
    """Stage the rows of one answer on the days it served and no newer answer did."""
    lower, upper = max(bounds[0], answer.first_day), min(bounds[1], answer.last_day)
    if lower > upper:
        return 0
    outcome = read(answer, body)
    served = [(lower, upper)]
    for gap in outcome.unserved_periods:
        served = [piece for span in served for piece in window_minus(span, gap)]
    spec = landing.table.spec
    rows = spec.to_arrow(outcome.blocks, answer.fetched_at)
    days = last_gas_days(rows, next(c.name for c in spec.columns if c.name.startswith("date_fin_")))
    keep = [d is not None and _inside(d, served) and not _inside(d, covered) for d in days]
    landing.add(
        rows.filter(pa.array(keep, pa.bool_())),
        [month_key(d) for d, k in zip(days, keep, strict=True) if k and d is not None],
    )
    for start, end in served:
        landing.replace(answer.scope, start, end, answer.fetched_at)
    covered.extend(served)
    return sum(keep)


def build_snapshot(
    table: LakeTable,
    raw: RawZone,
    answers: Sequence[Answer],
    snapshot: str,
    keep_personal: bool,
    read: ReadRecords,
) -> BuildResult:
    """One snapshot partition from document answers: the newest answer of each PCE.

    The access-rights list is a single answer for all PCEs: it replaces the whole
    snapshot; a PCE document replaces that PCE's row only.
    """
    spec = table.spec
    serving = sorted((a for a in answers if a.outcome in SERVING), key=lambda a: a.fetched_at)
    newest = {a.scope: a for a in serving}
    rows = 0
    with table.landing(lambda *_: [snapshot]) as landing:
        for answer in newest.values():
            try:
                records = read(answer, raw.read(answer))
            except DamagedAnswer:  # set aside, asked again by the next run
                continue
            rows_of = spec.to_arrow(records, answer.fetched_at, keep_personal)
            landing.add(rows_of, [snapshot] * rows_of.num_rows)
            if spec.name == "access_rights":
                landing.replace_partition(snapshot)
            else:
                landing.replace(answer.scope, date.min, date.max, answer.fetched_at)
            rows += rows_of.num_rows
    return BuildResult(rows, len(newest), len(landing.partitions))


def build_days(
    table: LakeTable,
    raw: RawZone,
    answers: Sequence[Answer],
    first: date,
    last: date,
    read: ReadRecords,
) -> BuildResult:
    """Rows of gas days [first, last] from answers covering every row of their days (an
    Ingrid contract's): on each day, the newest answer that covered it."""
    covered: list[tuple[date, date]] = []
    rows = 0
    with table.landing(months_between) as landing:
        for answer in sorted(answers, key=lambda a: a.fetched_at, reverse=True):
            served = [(max(first, answer.first_day), min(last, answer.last_day))]
            for span in covered:
                served = [piece for s in served for piece in window_minus(s, span)]
            served = [(a, b) for a, b in served if a <= b]
            if not served:
                continue
            try:
                body = raw.read(answer)
            except DamagedAnswer:  # set aside: older answers serve its days meanwhile
                continue
            rows_of = table.spec.to_arrow(read(answer, body), answer.fetched_at)
            kept = rows_of.filter(_within(rows_of.column("gas_day"), served))
            landing.add(kept, [month_key(d) for d in kept.column("gas_day").to_pylist()])
            for a, b in served:
                landing.replace(None, a, b, answer.fetched_at)
            covered.extend(served)
            rows += kept.num_rows
    return BuildResult(rows, len(answers), len(landing.partitions))


def _within(days: pa.ChunkedArray, spans: list[tuple[date, date]]) -> pa.ChunkedArray:
    mask = pc.is_valid(days) if spans else pc.is_null(days)
    inside = None
    for first, last in spans:
        span = pc.and_(
            pc.greater_equal(days, pa.scalar(first, pa.date32())),
            pc.less_equal(days, pa.scalar(last, pa.date32())),
        )
        inside = span if inside is None else pc.or_(inside, span)
    return mask if inside is None else pc.and_(mask, inside)


def build_whole_snapshot(
    table: LakeTable, raw: RawZone, answer: Answer, snapshot: str, read: ReadRecords
) -> int:
    """The whole snapshot partition from one answer (Ingrid's reference data)."""
    rows = table.spec.to_arrow(read(answer, raw.read(answer)), answer.fetched_at)
    with table.landing(lambda *_: [snapshot]) as landing:
        landing.replace_partition(snapshot)
        landing.add(rows, [snapshot] * rows.num_rows)
    return rows.num_rows


def last_gas_days(table: pa.Table, end_column: str) -> list[date | None]:
    """Each block's last gas day: its `journee_gaziere`, else the day its period ends in."""
    days = table.column("journee_gaziere").to_pylist()
    ends = table.column(end_column).to_pylist()
    return [
        day if day is not None or end is None else gas_day_of(end - timedelta(microseconds=1))
        for day, end in zip(days, ends, strict=True)
    ]


def months_between(first: date, last: date) -> list[str]:
    keys, day = [], first.replace(day=1)
    while day <= last:
        keys.append(month_key(day))
        day = month_bounds(month_key(day))[1] + timedelta(days=1)
    return keys


def _inside(day: date, windows: Iterable[tuple[date, date]]) -> bool:
    return any(start <= day <= end for start, end in windows)
