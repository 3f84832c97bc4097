"""The DuckDB catalog BI tools open: one schema per source, one view per table, and the
curated views (`warehouse/views/*.sql`) over them.

DuckDB opens a Parquet file several times during one query (schema at bind, then scans),
so a partition renamed over between two opens is read half old, half new: a Thrift error,
or wrong rows. The views therefore never read the live files: each refresh hard-links the
files of every table, under that table's landing lock, into a snapshot directory that no
one ever writes again, and the views read the snapshot. A query sees the warehouse as it
was at the refresh, every partition and every table together. The catalog file is rebuilt
beside the old one and renamed over it, so a BI tool holding the old file open read-only
never blocks a refresh, and never sees a half-written catalog; its snapshot is kept for
a day (SNAPSHOT_GRACE_SECONDS): a session open longer must reconnect.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
import uuid
from collections.abc import Iterable
from pathlib import Path

import duckdb

from warehouse.store import PartitionStore, TableSpec, _sql_str
from warehouse.tables import ALL_TABLES
from warehouse.views import create_curated_views

log = logging.getLogger(__name__)

CATALOG_FILE = "warehouse.duckdb"
SNAPSHOTS_DIR = "warehouse.snapshots"  # beside the catalog: not counted as warehouse bytes
SNAPSHOT_GRACE_SECONDS = 86_400  # older snapshots, but the current one, are removed
# Hive keys typed in the views (DuckDB would otherwise guess).
HIVE_TYPES = {"month": "VARCHAR", "snapshot_month": "VARCHAR", "snapshot_date": "DATE"}


def catalog_path(home: Path) -> Path:
    return home / CATALOG_FILE


def view_sql(store: PartitionStore) -> str:
    spec = store.spec
    hive_type = HIVE_TYPES[spec.partition_key]
    return (
        f"CREATE OR REPLACE VIEW {spec.schema}.{spec.name} AS "
        f"SELECT * FROM read_parquet({_sql_str(Path(store.glob()))}, hive_partitioning = true, "
        f"hive_types = {{'{spec.partition_key}': {hive_type}}}, union_by_name = true)"
    )


def refresh_catalog(home: Path, specs: Iterable[TableSpec]) -> list[str]:
    """Rebuild the catalog with a view for every table that has landed, then the curated
    views whose sources are among them; return the names of all views created."""
    home.mkdir(parents=True, exist_ok=True)
    root = home / "warehouse"
    snapshot = home / SNAPSHOTS_DIR / f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    tmp = home / f".{CATALOG_FILE}.{uuid.uuid4().hex}"
    views = []
    try:
        with duckdb.connect(str(tmp)) as con:
            for spec in specs:
                store = PartitionStore(root, spec)
                if not store.partitions():
                    continue
                con.execute(f"CREATE SCHEMA IF NOT EXISTS {spec.schema}")
                con.execute(view_sql(freeze(store, snapshot)))
                views.append(f"{spec.schema}.{spec.name}")
            views += create_curated_views(con, set(views))
        tmp.replace(catalog_path(home))
    except BaseException:
        shutil.rmtree(snapshot, ignore_errors=True)
        tmp.unlink(missing_ok=True)
        raise
    _sweep_snapshots(home / SNAPSHOTS_DIR, keep=snapshot)
    log.info("catalog refreshed: %s", ", ".join(views) or "no tables yet")
    return views


def freeze(store: PartitionStore, snapshot: Path) -> PartitionStore:
    """The store's partitions as they are now, hard-linked under `snapshot` (a landing
    renames new files over the live paths: the links keep the old contents intact)."""
    frozen = PartitionStore(snapshot, store.spec)
    with store._locked():  # a landing swaps its partitions together: take all or none
        for key in store.partitions():
            target = frozen.file_for(key)
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(store.file_for(key), target)
            except OSError:  # a filesystem without hard links: a copy is as immutable
                shutil.copyfile(store.file_for(key), target)
    return frozen


def _sweep_snapshots(folder: Path, keep: Path) -> None:
    if not folder.exists():  # nothing landed yet
        return
    cutoff = time.time() - SNAPSHOT_GRACE_SECONDS
    for old in folder.iterdir():
        try:
            if old != keep and old.stat().st_mtime < cutoff:
                shutil.rmtree(old, ignore_errors=True)
        except FileNotFoundError:  # another refresh swept it meanwhile
            continue


def refresh_warehouse(home: Path) -> list[str]:
    """`gazoduc warehouse refresh`: rebuild the catalog over every table gazoduc knows."""
    return refresh_catalog(home, ALL_TABLES)
