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

import fcntl
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
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
    views whose sources are among them; return the names of all views created.

    A held table (it failed a blocking check, see `hold`) keeps the snapshot it was last
    published with: other tables' refreshes never carry its bad partition to BI.
    """
    home.mkdir(parents=True, exist_ok=True)
    root = home / "warehouse"
    snapshots = home / SNAPSHOTS_DIR
    snapshot = snapshots / f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    tmp = home / f".{CATALOG_FILE}.{uuid.uuid4().hex}"
    views = []
    with _publication(home) as state:
        try:
            with duckdb.connect(str(tmp)) as con:
                for spec in specs:
                    name = f"{spec.schema}.{spec.name}"
                    frozen = _published_store(root, snapshots, snapshot, spec, state)
                    if frozen is None:
                        continue
                    con.execute(f"CREATE SCHEMA IF NOT EXISTS {spec.schema}")
                    con.execute(view_sql(frozen))
                    views.append(name)
                    state["published"][name] = frozen.root.name
                views += create_curated_views(con, set(views))
            tmp.replace(catalog_path(home))
        except BaseException:
            shutil.rmtree(snapshot, ignore_errors=True)
            tmp.unlink(missing_ok=True)
            raise
        keep = {snapshot.name, *state["published"].values()}
    _sweep_snapshots(snapshots, keep)
    log.info("catalog refreshed: %s", ", ".join(views) or "no tables yet")
    return views


def _published_store(
    root: Path, snapshots: Path, snapshot: Path, spec: TableSpec, state: dict
) -> PartitionStore | None:
    """The files a table's view reads: a fresh snapshot, or for a held table the one it
    was last published with (None: nothing to show yet)."""
    name = f"{spec.schema}.{spec.name}"
    if name in state["held"]:
        last = state["published"].get(name)
        if last is None or not (snapshots / last).exists():
            return None
        return PartitionStore(snapshots / last, spec)
    store = PartitionStore(root, spec)
    return freeze(store, snapshot) if store.partitions() else None


def hold(home: Path, spec: TableSpec, reason: str) -> None:
    """Keep a table's view on its last published data until `release` (a blocking check
    failed on what a run landed)."""
    with _publication(home) as state:
        state["held"][f"{spec.schema}.{spec.name}"] = reason


def release(home: Path, spec: TableSpec) -> None:
    with _publication(home) as state:
        state["held"].pop(f"{spec.schema}.{spec.name}", None)


def held_tables(home: Path) -> dict[str, str]:
    with _publication(home) as state:
        return dict(state["held"])


@contextmanager
def _publication(home: Path) -> Iterator[dict]:
    """What each view reads and which tables are held, shared by every process: read and
    written under an exclusive lock, replaced atomically."""
    path = home / "state" / "publication.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        state = json.loads(path.read_text()) if path.exists() else {}
        state.setdefault("published", {})
        state.setdefault("held", {})
        yield state
        tmp = path.with_suffix(f".{uuid.uuid4().hex}.tmp")
        tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
        tmp.replace(path)


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


def _sweep_snapshots(folder: Path, keep: set[str]) -> None:
    """Remove snapshots older than the grace period, but those a view still reads."""
    if not folder.exists():  # nothing landed yet
        return
    cutoff = time.time() - SNAPSHOT_GRACE_SECONDS
    for old in folder.iterdir():
        try:
            if old.name not in keep and old.stat().st_mtime < cutoff:
                shutil.rmtree(old, ignore_errors=True)
        except FileNotFoundError:  # another refresh swept it meanwhile
            continue


def refresh_warehouse(home: Path) -> list[str]:
    """`gazoduc warehouse refresh`: rebuild the catalog over every table gazoduc knows."""
    return refresh_catalog(home, ALL_TABLES)
