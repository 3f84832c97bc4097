"""What tests read back from a home's warehouse, through the same session the assets use."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from resources.warehouse import lake_of
from warehouse.lake_table import session


def query(home: Path, sql: str, parameters: Sequence[Any] = ()) -> list[tuple]:
    """The rows of `sql` on the committed state of `home`'s warehouse (`USE lake`), shared
    when the test set the shared mode's variables."""
    con = session(lake_of(home))
    try:
        return con.execute(sql, parameters).fetchall()
    finally:
        con.close()
