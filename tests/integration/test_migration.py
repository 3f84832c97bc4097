"""A home of the former layout (or one whose warehouse is lost) comes back from its raw
zone with `gazoduc reparse --all`: every table, the rights' events and the curated tables
as they were, and not one call."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest

from assets.adict import (
    ADICT_ASSETS,
    access_rights,
    informative_consumption,
    published_consumption,
)
from assets.ingrid import INGRID_ASSETS
from pipelines.cli import main
from pipelines.partitions import paris_today
from resources.warehouse import ALL_TABLES
from tests.conftest import Upstream
from tests.warehouse_reader import query
from warehouse.curated import update_curated
from warehouse.lake import Lake
from warehouse.lake_table import close_sessions

pytestmark = pytest.mark.xdist_group("adict")


def _tables(home: Path) -> dict[str, list[tuple]]:
    """Every landed and curated table's rows (fetched_at included: the answers' times)."""
    names = [f"{s.schema}.{s.name}" for s in ALL_TABLES]
    names += ["adict.daily_consumption", "adict.monthly_consumption", "ingrid.daily_balance"]
    found = {
        f"{s}.{t}"
        for s, t in query(
            home, "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = 'lake'"
        )
    }
    # The rights' events carry the time they were computed, not an answer's.
    return {
        name: query(home, f"SELECT * EXCLUDE (fetched_at) FROM {name} ORDER BY ALL")
        if name == "adict.access_right_events"
        else query(home, f"SELECT * FROM {name} ORDER BY ALL")
        for name in names
        if name in found
    }


def test_reparse_all_rebuilds_every_table_of_a_home_without_a_call(
    adict_upstream: Callable[..., Upstream], ingrid_upstream, home: Path
) -> None:
    adict = adict_upstream(portfolio_size=12)
    today = paris_today()
    dg.materialize([access_rights], resources=adict.resources())
    assert adict.materialize_range(
        informative_consumption, today - timedelta(days=20), today - timedelta(days=1)
    ).success
    documents = [a for a in ADICT_ASSETS if a.partitions_def is None and a is not access_rights]
    assert dg.materialize(documents, resources=adict.resources()).success
    last_month = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    assert dg.materialize(
        [published_consumption], resources=adict.resources(), partition_key=str(last_month)
    ).success
    ingrid = ingrid_upstream()
    balance = {
        "daily_measures",
        "daily_allocations",
        "daily_contractual_forecasts",
        "daily_imbalances",
    }
    dated = [a for a in INGRID_ASSETS if a.key.path[-1] in balance | {"hourly_measures"}]
    first = today - timedelta(days=10)
    assert ingrid.materialize_range(dated, first, today - timedelta(days=2)).success
    update_curated(Lake.at(home))
    before = _tables(home)
    assert sum(len(rows) for rows in before.values()) > 500
    calls = len(adict.calls()) + len(ingrid.calls())

    # The former layout's warehouse goes (its Parquet and catalog would be moved aside).
    for path in (home / "warehouse", home / "warehouse.sqlite"):
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    for stale in home.glob("warehouse.sqlite*"):
        stale.unlink()
    close_sessions()  # the command runs in a process of its own
    assert main(["reparse", "--all"]) == 0
    after = _tables(home)
    assert {name: after.get(name) for name in before} == before
    assert [name for name, rows in after.items() if rows and name not in before] == []
    assert {"adict.daily_consumption", "ingrid.daily_balance"} <= before.keys()
    assert len(adict.calls()) + len(ingrid.calls()) == calls
