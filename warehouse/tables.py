"""Every curated table, for the catalog."""

from __future__ import annotations

from warehouse.adict import TABLES as ADICT_TABLES
from warehouse.ingrid import TABLES as INGRID_TABLES
from warehouse.sfm import TABLES as SFM_TABLES
from warehouse.store import TableSpec

ALL_TABLES: tuple[TableSpec, ...] = (
    *ADICT_TABLES.values(),
    *INGRID_TABLES.values(),
    *SFM_TABLES.values(),
)
