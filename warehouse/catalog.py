"""The DuckDB catalog BI tools open: one schema per source, one view per table.

The views read exactly our Parquet files (a glob per table). The catalog file is rebuilt
beside the old one and renamed over it, so a BI tool holding the old file open read-only
never blocks a refresh, and never sees a half-written catalog.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from pathlib import Path

import duckdb

from warehouse.store import PartitionStore, TableSpec, _sql_str

log = logging.getLogger(__name__)

CATALOG_FILE = "warehouse.duckdb"
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
    """Rebuild the catalog with a view for every table that has landed; return their names."""
    home.mkdir(parents=True, exist_ok=True)
    root = home / "warehouse"
    tmp = home / f".{CATALOG_FILE}.{uuid.uuid4().hex}"
    views = []
    with duckdb.connect(str(tmp)) as con:
        for spec in specs:
            store = PartitionStore(root, spec)
            if not store.partitions():
                continue
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {spec.schema}")
            con.execute(view_sql(store))
            views.append(f"{spec.schema}.{spec.name}")
    tmp.replace(catalog_path(home))
    log.info("catalog refreshed: %s", ", ".join(views) or "no tables yet")
    return views
