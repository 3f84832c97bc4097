"""What a table is (its spec), and what a landing replaces in it (`Replacement`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pyarrow as pa

from warehouse.columns import Column, Kind, flatten, schema_of

FETCHED_AT = Column("fetched_at", ("fetched_at",), Kind.TIMESTAMP)


@dataclass(frozen=True)
class TableSpec:
    schema: str
    name: str
    columns: tuple[Column, ...]
    partition_key: str  # the hive key: month, snapshot_date, snapshot_month
    key: tuple[str, ...]  # one row per key in a partition
    # SQL giving a row's gas day: rows re-fetched for a scope replace its old rows on
    # those days only. None: the scope's rows of the whole partition (snapshots).
    day_sql: str | None = None
    # What one call answers for: a PCE (ADICT), a site (SFM). None: every row of the
    # days re-fetched (Ingrid answers for the whole contract).
    scope_column: str | None = "id_pce"

    def landed_columns(self, keep_personal: bool) -> list[Column]:
        return [c for c in self.columns if keep_personal or not c.personal] + [FETCHED_AT]

    def to_arrow(
        self, records: Sequence[dict[str, Any]], fetched_at: datetime, keep_personal: bool = False
    ) -> pa.Table:
        table = flatten(records, [c for c in self.columns if keep_personal or not c.personal])
        stamp = pa.array([fetched_at] * len(records), type=schema_of([FETCHED_AT])[0].type)
        return table.append_column(FETCHED_AT.name, stamp)


@dataclass(frozen=True)
class Replacement:
    """A scope's rows on [first_day, last_day] that a run re-fetched: old ones go, unless
    they come from a newer answer than `fetched_at` (another run landed it meanwhile)."""

    scope: str | None
    first_day: date
    last_day: date
    fetched_at: datetime | None = None  # None: whatever their age


def _match_old(spec: TableSpec) -> str:
    match = "(r.fetched_at IS NULL OR old.fetched_at <= r.fetched_at)"
    if spec.scope_column is not None:
        match = f"r.scope = old.{spec.scope_column} AND {match}"
    if spec.day_sql is None:
        return match
    return f"{match} AND ({spec.day_sql}) BETWEEN r.first_day AND r.last_day"


def _replacements_table(replacements: list[Replacement]) -> pa.Table:
    return pa.table(
        {
            "scope": pa.array([r.scope for r in replacements], pa.string()),
            "first_day": pa.array([r.first_day for r in replacements], pa.date32()),
            "last_day": pa.array([r.last_day for r in replacements], pa.date32()),
            "fetched_at": pa.array(
                [r.fetched_at for r in replacements], schema_of([FETCHED_AT])[0].type
            ),
        }
    )
