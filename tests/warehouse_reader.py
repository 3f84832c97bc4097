"""What tests read back from a home's warehouse, through the same session the assets use."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from warehouse.lake import Lake
from warehouse.lake_table import session


def query(home: Path, sql: str, parameters: Sequence[Any] = ()) -> list[tuple]:
    """The rows of `sql` on the committed state of `home`'s warehouse (`USE lake`)."""
    con = session(Lake.at(home))
    try:
        return con.execute(sql, parameters).fetchall()
    finally:
        con.close()
