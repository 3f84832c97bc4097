"""Curated partitions rebuilt from the raw zone, without a single call.

A run first stores every answer it fetches (raw zone), then builds the curated rows of
the requested range from the stored answers: the freshly fetched ones and those an
earlier, interrupted run left. `gazoduc reparse` runs the build alone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol, TypeVar

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from warehouse.columns import col
from warehouse.from_json import is_strict_refusal, json_columns, select_list
from warehouse.gasday import gas_day_of, month_bounds, month_key, window_minus
from warehouse.lake import sql_string
from warehouse.lake_table import LakeTable, Landing
from warehouse.raw import Answer, DamagedAnswer, RawZone
from warehouse.store import TableSpec

T = TypeVar("T")

# Answers that served days (possibly none): their days replace the rows landed before.
# A refusal (not_allowed) serves nothing and replaces nothing.
SERVING = frozenset({"data", "no_data", "empty", "partial"})
WHOLE = "data"  # an answer that served every day of its window (a gap makes it partial)
PARTIAL = "partial"  # an answer that served some days: its parser knows which
_PARIS = "'Europe/Paris'"


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

    An answer that served its whole window (`data`: the bulk of a backfill) is read by
    DuckDB straight from its stored file, once; the others (served in part, no data) are
    few and small, and read by the source's parser, which knows which days they served.
    """
    by_pce: dict[str, list[Answer]] = defaultdict(list)
    for answer in answers:
        if answer.outcome in SERVING:
            by_pce[answer.scope].append(answer)
    intact = {a.path for a in raw.verified(a for a in answers if a.outcome == WHOLE)}
    pieces: list[Piece] = []
    rows = 0
    with table.landing(months_between) as landing:
        for own in by_pce.values():
            covered: list[tuple[date, date]] = []
            for answer in sorted(own, key=lambda a: a.fetched_at, reverse=True):
                window = (max(first, answer.first_day), min(last, answer.last_day))
                if window[0] > window[1]:
                    continue
                if answer.outcome == WHOLE:
                    if answer.path not in intact:  # set aside: older answers serve its days
                        continue
                    served = [window]
                    pieces += [Piece(answer, *p) for p in _minus(served, covered)]
                else:
                    try:
                        outcome = read(answer, raw.read(answer))
                    except DamagedAnswer:  # set aside: older answers serve its days
                        continue
                    served = _minus([window], outcome.unserved_periods)
                    rows += _stage_blocks(landing, answer, outcome.blocks, served, covered)
                for start, end in served:
                    landing.replace(answer.scope, start, end, answer.fetched_at)
                covered.extend(served)
        rows += _stage_files(landing, raw, pieces)
    return BuildResult(rows, sum(len(a) for a in by_pce.values()), len(landing.partitions))


@dataclass(frozen=True)
class Piece:
    """Days [first_day, last_day] whose rows come from `answer`'s stored file."""

    answer: Answer
    first_day: date
    last_day: date


def _minus(spans: list[tuple[date, date]], cuts: Iterable[tuple[date, date]]) -> list:
    for cut in cuts:
        spans = [piece for span in spans for piece in window_minus(span, cut)]
    return spans


def _stage_blocks(
    landing: Landing,
    answer: Answer,
    blocks: Sequence[dict[str, Any]],
    served: list[tuple[date, date]],
    covered: list[tuple[date, date]],
) -> int:
    """Stage the parsed blocks of one answer on the days it served and no newer answer
    did."""
    spec = landing.table.spec
    rows = spec.to_arrow(blocks, answer.fetched_at)
    days = last_gas_days(rows, _end_column(spec))
    keep = [d is not None and _inside(d, served) and not _inside(d, covered) for d in days]
    landing.add(
        rows.filter(pa.array(keep, pa.bool_())),
        [month_key(d) for d, k in zip(days, keep, strict=True) if k and d is not None],
    )
    return sum(keep)


def _stage_files(landing: Landing, raw: RawZone, pieces: list[Piece]) -> int:
    """Stage the rows of the pieces' stored files (see `_on_file_rows`)."""
    if not pieces:
        return 0
    return _on_file_rows(landing.con, landing.table.spec, raw, pieces, landing.add_query)


def _on_file_rows(
    con: duckdb.DuckDBPyConnection,
    spec: TableSpec,
    raw: RawZone,
    pieces: list[Piece],
    run: Callable[[str], T],
) -> T:
    """`run` on the SQL of the pieces' rows, read by DuckDB from their stored files: typed
    as the Python path types them (`from_json`: strict, else lenient when a value needs
    it), each on its last gas day, kept inside its piece."""
    con.register("landing_pieces", _pieces_table(raw, pieces))
    try:
        try:
            return run(_file_rows_sql(spec, pieces, raw, strict=True))
        except duckdb.Error as error:
            if not is_strict_refusal(error):
                raise
            return run(_file_rows_sql(spec, pieces, raw, strict=False))
    finally:
        con.unregister("landing_pieces")


def answered_rows(
    con: duckdb.DuckDBPyConnection,
    raw: RawZone,
    spec: TableSpec,
    answers: Sequence[Answer],
    first: date,
    last: date,
    read: ReadWindow,
) -> pa.Table:
    """Every row each answer gave on [first, last], each with its answer's `fetched_at`,
    whether it won or not (what a check of restatements compares), read as the landing
    reads them: whole answers from their files, the others through `read`."""
    whole = raw.verified(a for a in answers if a.outcome == WHOLE)
    pieces = [Piece(a, max(first, a.first_day), min(last, a.last_day)) for a in whole]
    empty = spec.to_arrow([], datetime.now(UTC))
    parts = [empty.append_column("month", pa.array([], pa.string()))]
    schema = parts[0].schema  # DuckDB names UTC its own way: Arrow's types, as the rest

    def fetch(sql: str) -> pa.Table:
        return con.sql(sql).to_arrow_table().select(schema.names).cast(schema)

    if pieces:
        parts.append(_on_file_rows(con, spec, raw, pieces, fetch))
    for answer, body in raw.readable(a for a in answers if a.outcome == PARTIAL):
        rows = spec.to_arrow(read(answer, body).blocks, answer.fetched_at)
        days = last_gas_days(rows, _end_column(spec))
        inside = [d is not None and first <= d <= last for d in days]
        kept = rows.filter(pa.array(inside, pa.bool_()))
        months = [month_key(d) for d, k in zip(days, inside, strict=True) if k and d is not None]
        parts.append(kept.append_column("month", pa.array(months, pa.string())))
    return pa.concat_tables(parts)


# Beside the spec's columns, what tells a data block from a status block and the trailer.
_STATUS = col("landing_status", "statut_restitution")
_TRAILER = col("landing_trailer", "code_statut_traitement")


def _file_rows_sql(spec: TableSpec, pieces: list[Piece], raw: RawZone, strict: bool) -> str:
    files = sorted({str(raw.file(p.answer)) for p in pieces})
    read = [*spec.columns, _STATUS, _TRAILER]
    # A block's last gas day: its journee_gaziere, else the day its period ends in (the
    # gas day of the instant just before date_fin: 06:00 Paris starts a gas day).
    end = _end_column(spec)
    day = (
        f"coalesce(journee_gaziere, CAST(timezone({_PARIS}, {end} - INTERVAL 1 MICROSECOND) "
        "- INTERVAL 6 HOUR AS DATE))"
    )
    return f"""
        WITH blocks AS (
            SELECT filename, {select_list(read, strict)}
            FROM read_json([{", ".join(sql_string(f) for f in files)}],
                columns = {json_columns(read, strict)}, format = 'newline_delimited',
                compression = 'zstd', filename = true)
        ), data AS (
            SELECT *, {day} AS landing_day FROM blocks
            WHERE landing_trailer IS NULL
            AND (landing_status IS NULL OR landing_status IN ('{{}}', '[]', 'null', 'false', '0'))
        )
        SELECT d.* EXCLUDE (filename, landing_day, landing_status, landing_trailer),
            p.fetched_at, strftime(d.landing_day, '%Y-%m') AS month
        FROM data AS d JOIN landing_pieces AS p
        ON p.file = d.filename AND d.landing_day BETWEEN p.first_day AND p.last_day
    """


def _pieces_table(raw: RawZone, pieces: list[Piece]) -> pa.Table:
    return pa.table(
        {
            "file": [str(raw.file(p.answer)) for p in pieces],
            "fetched_at": pa.array(
                [p.answer.fetched_at for p in pieces], pa.timestamp("us", tz="UTC")
            ),
            "first_day": pa.array([p.first_day for p in pieces], pa.date32()),
            "last_day": pa.array([p.last_day for p in pieces], pa.date32()),
        }
    )


def _end_column(spec: TableSpec) -> str:
    return next(c.name for c in spec.columns if c.name.startswith("date_fin_"))


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
