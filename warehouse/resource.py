"""The warehouse as a Dagster resource: where it lives, and what it may keep."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from resources.settings import gazoduc_home
from warehouse.adict import ACCESS_RIGHTS
from warehouse.catalog import hold, refresh_catalog, release
from warehouse.raw import RawZone
from warehouse.store import PartitionStore, TableSpec, _sql_str
from warehouse.tables import ALL_TABLES


class MissingUpstreamData(RuntimeError):
    """A table an asset needs has not landed yet."""


class WarehouseResource(dg.ConfigurableResource):
    """Curated Parquet under `<home>/warehouse`, catalog at `<home>/warehouse.duckdb`."""

    home: str  # relative: to the project folder, as GAZODUC_HOME (resources/settings.py)
    # Holder names, e-mails and phones stay out of the warehouse unless the operator opts in.
    keep_personal_data: bool = False

    @property
    def home_path(self) -> Path:
        return gazoduc_home(self.home)

    def store(self, spec: TableSpec) -> PartitionStore:
        return PartitionStore(self.home_path / "warehouse", spec)

    def raw_zone(self) -> RawZone:
        return RawZone(self.home_path)

    def refresh_catalog(self) -> list[str]:
        return refresh_catalog(self.home_path, ALL_TABLES)

    def hold(self, spec: TableSpec, reason: str) -> None:
        """Keep BI on this table's last published data (a blocking check failed)."""
        hold(self.home_path, spec, reason)

    def release(self, spec: TableSpec) -> None:
        release(self.home_path, spec)

    def latest_access_rights(self) -> list[dict[str, Any]]:
        """The newest access-rights snapshot, as records the planner reads."""
        store = self.store(ACCESS_RIGHTS)
        snapshots = store.partitions()
        if not snapshots:
            raise MissingUpstreamData(
                "no access-rights snapshot yet: materialize adict/access_rights first"
            )
        with duckdb.connect() as con:
            cursor = con.execute(
                f"SELECT * FROM read_parquet({_sql_str(store.file_for(snapshots[-1]))}, "
                "hive_partitioning = false)"
            )
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
