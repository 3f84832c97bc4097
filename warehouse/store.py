"""Partitions of curated Parquet, each replaced whole in one rename.

Layout: `<root>/<schema>/<table>/<key>=<value>/data.parquet`, zstd, sorted by the table's
key. A run stages its rows beside the warehouse, then each touched partition is rebuilt
(old rows minus what the run re-fetched, plus the new rows, one row per key) into a
temporary file and renamed over the old one: a reader or a crash sees the old partition
or the new one, never half of either, and a re-run never duplicates a row.
"""

from __future__ import annotations

import fcntl
import logging
import shutil
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from warehouse.columns import Column, Kind, flatten, schema_of

log = logging.getLogger(__name__)

FETCHED_AT = Column("fetched_at", ("fetched_at",), Kind.TIMESTAMP)
DATA_FILE = "data.parquet"
ORPHAN_AGE_SECONDS = 86_400  # no landing takes a day: older staging is a dead run's
FLUSH_ROWS = 500_000  # staged rows held in memory before they are written as pieces


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


class PartitionStore:
    def __init__(self, root: Path, spec: TableSpec) -> None:
        self.root, self.spec = root, spec
        self.dataset_dir = root / spec.schema / spec.name

    def file_for(self, key: str) -> Path:
        return self.dataset_dir / f"{self.spec.partition_key}={key}" / DATA_FILE

    def glob(self) -> str:
        return str(self.dataset_dir / f"{self.spec.partition_key}=*" / DATA_FILE)

    def partitions(self) -> list[str]:
        prefix = f"{self.spec.partition_key}="
        return sorted(
            p.parent.name.removeprefix(prefix)
            for p in self.dataset_dir.glob(f"{prefix}*/{DATA_FILE}")
        )

    @contextmanager
    def landing(
        self,
        partitions_of: Callable[[date, date], list[str]],
        commit_on: tuple[type[BaseException], ...] = (),
    ) -> Iterator[Landing]:
        """Stage a run's rows; on a clean exit, swap in every touched partition.

        An exception discards the staged rows, unless it is one of `commit_on`: then
        what was staged (whole calls only) is landed before the exception goes on.
        """
        _sweep_orphans(self.root / ".staging")
        staging = self.root / ".staging" / uuid.uuid4().hex
        landing = Landing(self, staging, partitions_of)
        try:
            yield landing
        except commit_on:
            landing.commit()
            raise
        else:
            landing.commit()
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        # Two runs rebuilding the same partition would lose one's rows: take turns.
        self.dataset_dir.mkdir(parents=True, exist_ok=True)
        with open(self.dataset_dir / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield


@dataclass
class Landing:
    store: PartitionStore
    staging: Path
    partitions_of: Callable[[date, date], list[str]]
    pieces: dict[str, list[Path]] = field(default_factory=lambda: defaultdict(list))
    replaced: dict[str, list[Replacement]] = field(default_factory=lambda: defaultdict(list))
    dropped: set[str] = field(default_factory=set)
    buffered: dict[str, list[pa.Table]] = field(default_factory=lambda: defaultdict(list))
    buffered_rows: int = 0
    rows_by_partition: dict[str, int] = field(default_factory=dict)

    def replace_partition(self, key: str) -> None:
        """Declare that this run's rows are the whole partition (a snapshot)."""
        self.dropped.add(key)

    def replace(
        self,
        scope: str | None,
        first_day: date,
        last_day: date,
        fetched_at: datetime | None = None,
    ) -> None:
        """Declare that this run re-fetched the scope's rows (a PCE's, a site's; None: all
        rows) on [first_day, last_day]."""
        for key in self.partitions_of(first_day, last_day):
            self.replaced[key].append(Replacement(scope, first_day, last_day, fetched_at))

    def add(self, table: pa.Table, keys: Sequence[str]) -> None:
        """Stage rows; `keys` gives each row's partition. Rows wait in memory and go to
        disk in large pieces (small Parquet files cost more to write than to fill)."""
        column = pa.array(keys, type=pa.string())
        for key in sorted(set(keys)):
            self.buffered[key].append(table.filter(pc.equal(column, key)))
        self.buffered_rows += len(keys)
        if self.buffered_rows >= FLUSH_ROWS:
            self._flush()

    def _flush(self) -> None:
        for key, tables in self.buffered.items():
            piece = self.staging / key / f"{len(self.pieces[key]):06d}.parquet"
            piece.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.concat_tables(tables), piece)
            self.pieces[key].append(piece)
        self.buffered.clear()
        self.buffered_rows = 0

    def commit(self) -> None:
        self._flush()
        touched = sorted(set(self.pieces) | set(self.replaced) | self.dropped)
        with self.store._locked():
            for key in touched:
                self.rows_by_partition[key] = self._rebuild(key)
        log.info("%s: %d partitions replaced", self.store.spec.name, len(touched))

    def _rebuild(self, key: str) -> int:
        spec, target = self.store.spec, self.store.file_for(key)
        sources = []
        con = duckdb.connect()
        try:
            if target.exists() and key not in self.dropped:
                con.register("replaced", _replacements_table(self.replaced.get(key, [])))
                sources.append(
                    # Not hive_partitioning: the folder's `month=` would become a column.
                    f"SELECT * FROM read_parquet({_sql_str(target)}, hive_partitioning = false) "
                    "AS old "
                    f"WHERE NOT EXISTS (SELECT 1 FROM replaced AS r WHERE {_match_old(spec)})"
                )
            if self.pieces.get(key):
                files = ", ".join(_sql_str(p) for p in self.pieces[key])
                sources.append(
                    f"SELECT * FROM read_parquet([{files}], union_by_name = true, "
                    "hive_partitioning = false)"
                )
            if not sources:
                if key in self.dropped:  # a snapshot with nothing in it any more
                    target.unlink(missing_ok=True)
                return 0
            keys = ", ".join(spec.key)
            self.staging.mkdir(parents=True, exist_ok=True)
            tmp = self.staging / f"{key}.rebuilt.parquet"
            con.execute(
                f"COPY (SELECT * FROM ({' UNION ALL BY NAME '.join(sources)}) "
                f"QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY fetched_at DESC) = 1 "
                f"ORDER BY {keys}) TO {_sql_str(tmp)} (FORMAT parquet, COMPRESSION zstd)"
            )
            (rows,) = con.execute(f"SELECT count(*) FROM read_parquet({_sql_str(tmp)})").fetchone()
        finally:
            con.close()
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp.replace(target)  # same filesystem: atomic
        return int(rows)


def _sweep_orphans(staging_root: Path) -> None:
    """Remove staging left by runs killed mid-landing (kill -9 skips `finally`)."""
    if not staging_root.exists():
        return
    cutoff = time.time() - ORPHAN_AGE_SECONDS
    for stale in staging_root.iterdir():
        try:
            if stale.stat().st_mtime < cutoff:
                shutil.rmtree(stale, ignore_errors=True)
        except FileNotFoundError:  # its run finished meanwhile
            continue


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


def _sql_str(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"
