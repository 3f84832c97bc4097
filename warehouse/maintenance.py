"""Warehouse housekeeping: few files, a bounded history, no leftovers.

Every landing is a DuckLake snapshot, and each one that writes Parquet adds a file per
partition it touches: hourly SFM captures alone would add 24 a day per table. Two things
keep the file count small:
- small landings are inlined: a landing of up to `SMALL_LANDING_ROWS` rows is written
  into the catalog, not to a Parquet file (a catalog-wide DuckLake option, set here at
  each run so it holds for every writer, this one's first run included);
- `maintain`, run weekly, writes the inlined rows out and merges small adjacent files.

Snapshots make time travel possible (`AT (VERSION => n)`) and keep every file a
snapshot reads: `maintain` expires snapshots older than the retention, then deletes the
files nothing reads any more. A file is deleted only `grace` after it was retired, since
a query that started before still reads it.

The steps follow DuckLake's own CHECKPOINT order; each runs as one `Lake.write`, so
landings wait for the step (not for the whole run) and a step that fails changes nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

import duckdb
import pyarrow.fs as pafs

from warehouse.lake import ALIAS, DATA_FOLDER, Lake

# A landing of at most this many rows stays in the catalog until the weekly flush: an
# hourly SFM capture, a day of Ingrid reference data. Larger ones write Parquet at once.
SMALL_LANDING_ROWS = 1000
# A retired file is deleted this long after: a query that started before still reads it.
IN_FLIGHT_GRACE = timedelta(hours=1)
# A file whose share of deleted rows (re-fetched days replaced) reaches this is rewritten.
REWRITE_DELETED_SHARE = 0.5


@dataclass(frozen=True)
class Footprint:
    """The warehouse's files: those the latest snapshot reads, and all on disk (older
    snapshots' files too, until they expire)."""

    live_files: int
    disk_files: int
    disk_bytes: int

    def __str__(self) -> str:
        return (
            f"files read by the latest snapshot: {self.live_files:,}; on disk: "
            f"{self.disk_files:,} files, {_size(self.disk_bytes)}"
        )


@dataclass(frozen=True)
class Maintenance:
    """What one `maintain` did."""

    retention: timedelta
    rows_flushed: int  # inlined rows written out to Parquet
    files_merged: int
    merged_into: int
    files_rewritten: int  # files with many deleted rows, rewritten without them
    rewritten_into: int
    snapshots_expired: int
    files_removed: int  # retired files: merged, rewritten, or only read by expired snapshots
    orphans_removed: int  # files no snapshot ever recorded (a crashed write's)
    before: Footprint
    after: Footprint

    def lines(self) -> list[str]:
        return [
            f"inlined rows written to Parquet: {self.rows_flushed:,}",
            f"files merged: {self.files_merged:,} into {self.merged_into:,}",
            f"files rewritten without deleted rows: {self.files_rewritten:,} "
            f"into {self.rewritten_into:,}",
            f"snapshots expired (older than {self.retention.days} days): "
            f"{self.snapshots_expired:,}",
            f"files removed: {self.files_removed:,} retired, {self.orphans_removed:,} orphaned",
            f"before: {self.before}",
            f"after:  {self.after}",
        ]


def maintain(
    lake: Lake,
    retention: timedelta,
    grace: timedelta = IN_FLIGHT_GRACE,
    now: datetime | None = None,
) -> Maintenance:
    """Flush inlined rows, expire snapshots older than `retention`, merge small files,
    rewrite files with many deleted rows, delete files retired more than `grace` ago
    and orphans older than `retention` (see module doc). `now`: the present, for tests."""
    now = now or datetime.now(UTC)
    if retention <= timedelta(0):
        raise ValueError(f"the snapshot retention must be above 0, not {retention}")
    with lake.open() as con:
        lake.write_bi_script()  # opened for writing: the BI script follows this machine
        before = footprint(lake, con)
        lake.write(con, keep_small_landings_inlined, "maintenance: inline small landings")
        flushed = _run(lake, con, "flush_inlined_data")
        expired = _run(lake, con, "expire_snapshots", older_than=_days_before(now - retention))
        merged = _run(lake, con, "merge_adjacent_files")
        rewritten = _run(lake, con, "rewrite_data_files", delete_threshold=REWRITE_DELETED_SHARE)
        if grace > timedelta(0):
            removed = _run(lake, con, "cleanup_old_files", older_than=_days_before(now - grace))
        else:
            removed = _run(lake, con, "cleanup_old_files", cleanup_all=True)
        # Orphans are judged by their files' times, which DuckLake compares right.
        orphans = _run(lake, con, "delete_orphaned_files", older_than=now - retention)
        after = footprint(lake, con)
    return Maintenance(
        retention=retention,
        rows_flushed=_total(flushed, "rows_flushed"),
        files_merged=_total(merged, "files_processed"),
        merged_into=_total(merged, "files_created"),
        files_rewritten=_total(rewritten, "files_processed"),
        rewritten_into=_total(rewritten, "files_created"),
        snapshots_expired=len(expired),
        files_removed=len(removed),
        orphans_removed=len(orphans),
        before=before,
        after=after,
    )


def keep_small_landings_inlined(con: duckdb.DuckDBPyConnection) -> None:
    """Set the catalog-wide inlining limit (inside a `Lake.write`). It is stored in the
    catalog, so it holds for every process that writes, whatever its DuckDB settings."""
    con.execute(f"CALL {ALIAS}.set_option('data_inlining_row_limit', ?)", [SMALL_LANDING_ROWS])


def footprint(lake: Lake, con: duckdb.DuckDBPyConnection) -> Footprint:
    (live,) = con.execute(
        "SELECT coalesce(sum(file_count + delete_file_count), 0)::BIGINT "
        f"FROM ducklake_table_info('{ALIAS}')"
    ).fetchone() or (0,)
    sizes = _data_file_sizes(lake)
    return Footprint(int(live), len(sizes), sum(sizes))


def _data_file_sizes(lake: Lake) -> list[int]:
    """The size of every file under the data path, on this disk or in the bucket."""
    if lake.storage is None:
        return [p.stat().st_size for p in lake.data_path.rglob("*") if p.is_file()]
    found = lake.storage.filesystem().get_file_info(
        pafs.FileSelector(lake.storage.key(DATA_FOLDER), recursive=True, allow_not_found=True)
    )
    return [info.size for info in found if info.type == pafs.FileType.File]


def _run(
    lake: Lake, con: duckdb.DuckDBPyConnection, function: str, **arguments: object
) -> list[dict[str, object]]:
    """`CALL ducklake_<function>('lake', name => value, …)` as one write; its rows. The
    snapshot a step commits (flush, merge, rewrite) is named after it."""
    named = "".join(f", {name} => ?" for name in arguments)
    statement = f"CALL ducklake_{function}('{ALIAS}'{named})"

    def call(c: duckdb.DuckDBPyConnection) -> list[dict[str, object]]:
        cursor = c.execute(statement, list(arguments.values()))
        names = [d[0] for d in cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    return lake.write(con, call, f"maintenance: {function}")


def _days_before(moment: datetime) -> datetime:
    """The end of the UTC day before `moment`'s: a bound in whole days.

    DuckLake 1.5.5 with a SQLite catalog compares a snapshot's or a retired file's time,
    stored as text, to such a bound in another text format: on the same day, everything
    passes whatever its time (snapshots and files of a minute ago went with a bound an
    hour ago). Days apart, the text compares right: what goes is older than `moment`, and
    at most a day more is kept."""
    start_of_day = datetime.combine(moment.astimezone(UTC).date(), time(), UTC)
    return start_of_day - timedelta(microseconds=1)


def _total(rows: Sequence[dict[str, object]], column: str) -> int:
    return sum(int(row[column]) for row in rows)  # type: ignore[call-overload]


def _size(count: int) -> str:
    """`count` bytes in decimal units: 950 B, 12.3 kB, 4.5 MB, 1.2 GB."""
    if count < 1000:
        return f"{count} B"
    exponent = min(3, int(math.log10(count) // 3))
    return f"{count / 1000**exponent:,.1f} {('kB', 'MB', 'GB')[exponent - 1]}"
