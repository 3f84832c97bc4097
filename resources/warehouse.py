"""The warehouse as a Dagster resource: where it lives, and what it may keep."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg

from resources.ingrid_endpoints import TABLES as INGRID_TABLES
from resources.settings import database_url, gazoduc_home, read, storage_url
from warehouse.adict import ACCESS_RIGHTS
from warehouse.adict import TABLES as ADICT_TABLES
from warehouse.lake import Lake
from warehouse.lake_table import LakeTable, Rules
from warehouse.raw import RawZone
from warehouse.s3 import S3Location
from warehouse.sfm import TABLES as SFM_TABLES
from warehouse.store import TableSpec

# Every table gazoduc lands, by source.
ALL_TABLES: list[TableSpec] = [
    *ADICT_TABLES.values(),
    *INGRID_TABLES.values(),
    *SFM_TABLES.values(),
]


class MissingUpstreamData(RuntimeError):
    """A table an asset needs has not landed yet."""


class WarehouseResource(dg.ConfigurableResource):
    """The DuckLake warehouse of `<home>` and the raw zone under `<home>/raw`; shared by
    several machines when GAZODUC_DATABASE_URL (catalogs) and GAZODUC_STORAGE_URL (files)
    are set. GAZODUC_WAREHOUSE, when set, still names the DuckLake catalog."""

    home: str  # relative: to the project folder, as GAZODUC_HOME (resources/settings.py)
    # Holder names, e-mails and phones stay out of the warehouse unless the operator opts in.
    keep_personal_data: bool = False

    @property
    def home_path(self) -> Path:
        return gazoduc_home(self.home)

    def lake(self) -> Lake:
        return lake_of(self.home_path)

    def table(self, spec: TableSpec, rules: Rules | None = None) -> LakeTable:
        """The spec's table; a landing into it runs `rules` before it commits."""
        return LakeTable(self.lake(), spec, rules)

    def raw_zone(self) -> RawZone:
        return RawZone(self.home_path, database_url(), shared_storage())

    def latest_access_rights(self) -> list[dict[str, Any]]:
        """The newest access-rights snapshot, as records the planner reads."""
        rights = self.table(ACCESS_RIGHTS).newest_snapshot()
        if not rights:
            raise MissingUpstreamData(
                "no access-rights snapshot yet: materialize adict/access_rights first"
            )
        return rights


def lake_of(home: Path) -> Lake:
    """The warehouse of `home`, with the shared mode's settings if they are set."""
    return Lake.at(home, database_url=database_url(), storage=shared_storage())


def shared_storage() -> S3Location | None:
    """GAZODUC_STORAGE_URL's bucket with the AWS_* settings, or None: files under the home."""
    url = storage_url()
    if url is None:
        return None
    return S3Location.from_url(
        url,
        region=read("AWS_REGION"),
        endpoint=read("AWS_ENDPOINT_URL"),
        key_id=read("AWS_ACCESS_KEY_ID"),
        secret=read("AWS_SECRET_ACCESS_KEY"),
    )
