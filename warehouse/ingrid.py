"""The Ingrid tables, derived from the endpoint table, and their build from raw answers.

Columns are GRTgaz's camelCase fields in snake_case (`gasDay` -> `gas_day`). Hourly
tables add `start_local`, the hour's Europe/Paris wall-clock start, beside the UTC
`start_date_time` and the `gas_day`: on the autumn DST day two rows share a local start
and differ by their UTC start, the key. Dated tables land in monthly files (`month=`);
reference data in daily snapshots (`snapshot_date=`).

A chunk answer covers the whole contract on its days: a newer answer replaces every row
of those days, so a day GRTgaz corrected is counted once, with its latest values.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.planner import window_minus
from resources.ingrid import load_records
from resources.ingrid_endpoints import ENDPOINTS, Endpoint, Grain
from warehouse.build import BuildResult, months_between
from warehouse.columns import Column, Kind, col
from warehouse.gasday import month_key
from warehouse.lake_table import LakeTable
from warehouse.raw import Answer, DamagedAnswer, RawZone
from warehouse.store import TableSpec

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


def build_days(
    table: LakeTable, raw: RawZone, answers: Sequence[Answer], first: date, last: date
) -> BuildResult:
    """Rows of gas days [first, last]: on each day, the newest answer that covered it."""
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
            rows_of = table.spec.to_arrow(load_records(body), answer.fetched_at)
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


def build_snapshot(table: LakeTable, raw: RawZone, answer: Answer, snapshot: str) -> int:
    """The whole snapshot partition from one answer (reference data is small)."""
    rows = table.spec.to_arrow(load_records(raw.read(answer)), answer.fetched_at)
    with table.landing(lambda *_: [snapshot]) as landing:
        landing.replace_partition(snapshot)
        landing.add(rows, [snapshot] * rows.num_rows)
    return rows.num_rows
