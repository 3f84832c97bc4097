"""Maintenance: small landings leave few files, history is kept for the retention and no
longer, time travel within it still reads what it read, and nothing else is lost."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from pipelines.schedules import JOBS, SCHEDULES, warehouse_maintenance
from resources.warehouse import WarehouseResource
from warehouse.lake import Lake
from warehouse.maintenance import SMALL_LANDING_ROWS, keep_small_landings_inlined, maintain

REPO = Path(__file__).resolve().parents[2]
TABLE = "sfm.captures"
RETENTION = timedelta(days=30)
LANDINGS, ROWS_PER_LANDING = 200, 6  # a few sites' indicators, captured hourly
MONTHS = 2  # partitions the landings go to


def _create(lake: Lake, con: duckdb.DuckDBPyConnection, inlined: bool) -> None:
    def create(c: duckdb.DuckDBPyConnection) -> None:
        c.execute("CREATE SCHEMA IF NOT EXISTS sfm")
        c.execute(f"CREATE TABLE {TABLE} (hour BIGINT, site VARCHAR, value BIGINT, month VARCHAR)")
        c.execute(f"ALTER TABLE {TABLE} SET PARTITIONED BY (month)")

    lake.write(con, create, "create")
    if not inlined:  # as if each landing were larger than the inlining limit
        lake.write(
            con,
            lambda c: c.execute(
                "CALL lake.set_option('data_inlining_row_limit', 0, schema => 'sfm', "
                "table_name => 'captures')"
            ),
        )


def _land(con: duckdb.DuckDBPyConnection, hour: int) -> None:
    """One capture, as a landing does it: the hour's old rows go, its new rows come."""
    con.execute(f"DELETE FROM {TABLE} WHERE hour = ?", [hour])
    con.execute(
        f"INSERT INTO {TABLE} SELECT ?, 'site-' || s, s * 1000 + ?, ? FROM range({ROWS_PER_LANDING}) r(s)",
        [hour, hour, f"2026-0{1 + hour % MONTHS}"],
    )


def _small_landings(lake: Lake, inlined: bool, count: int = LANDINGS) -> None:
    with lake.open() as con:
        _create(lake, con, inlined)
        for hour in range(count):
            lake.write(con, lambda c, hour=hour: _land(c, hour), f"capture {hour}")


def _history(lake: Lake) -> dict[int, tuple]:
    """What the table held at every 20th landing's snapshot and at the last one."""
    with lake.open(read_only=True) as con:
        versions = [
            v
            for (v,) in con.execute(
                "SELECT snapshot_id FROM lake.snapshots() "
                "WHERE commit_message LIKE 'capture %' ORDER BY 1"
            ).fetchall()
        ]
        sampled = [*versions[::20], versions[-1]]
        return {
            v: con.execute(
                f"SELECT count(*), sum(value), count(DISTINCT month) FROM {TABLE} AT (VERSION => {v})"
            ).fetchone()
            for v in sampled
        }


def _parquet_files(lake: Lake) -> list[Path]:
    return list(lake.data_path.rglob("*.parquet"))


def test_two_hundred_small_landings_are_merged_into_a_file_per_partition(
    tmp_path: Path,
) -> None:
    lake = Lake.at(tmp_path)
    _small_landings(lake, inlined=False)
    history = _history(lake)
    assert len(_parquet_files(lake)) >= LANDINGS

    done = maintain(lake, RETENTION)

    assert done.files_merged >= LANDINGS
    assert done.after.live_files <= MONTHS  # what a query opens
    assert _history(lake) == history  # every snapshot within retention reads the same
    values = [s * 1000 + h for h in range(LANDINGS) for s in range(ROWS_PER_LANDING)]
    assert history[max(history)] == (len(values), sum(values), MONTHS)
    # The merged files are kept for queries already running, then deleted.
    assert done.files_removed == 0
    again = maintain(lake, RETENTION, grace=timedelta(0))
    assert again.files_removed >= LANDINGS
    assert len(_parquet_files(lake)) <= MONTHS
    assert again.after.disk_bytes < done.before.disk_bytes
    assert _history(lake) == history


def test_small_landings_stay_in_the_catalog_until_maintenance_writes_them_out(
    tmp_path: Path,
) -> None:
    lake = Lake.at(tmp_path)
    with lake.open() as con:  # what the first maintenance run leaves in force
        lake.write(con, keep_small_landings_inlined)
    _small_landings(lake, inlined=True)
    history = _history(lake)
    assert _parquet_files(lake) == []

    done = maintain(lake, RETENTION)

    assert done.rows_flushed == LANDINGS * ROWS_PER_LANDING
    assert len(_parquet_files(lake)) <= MONTHS
    assert _history(lake) == history


def test_a_landing_above_the_inlining_limit_writes_parquet_at_once(tmp_path: Path) -> None:
    lake = Lake.at(tmp_path)
    with lake.open() as con:
        lake.write(con, keep_small_landings_inlined)
        _create(lake, con, inlined=True)
        big = SMALL_LANDING_ROWS + 1
        lake.write(
            con,
            lambda c: c.execute(
                f"INSERT INTO {TABLE} SELECT range, 'site', 1, '2026-01' FROM range({big})"
            ),
        )
    assert len(_parquet_files(lake)) == 1


def test_snapshots_past_retention_expire_and_their_files_go_with_them(tmp_path: Path) -> None:
    lake = Lake.at(tmp_path)
    _small_landings(lake, inlined=False, count=10)
    oldest = min(_history(lake))
    with lake.open(read_only=True) as con:
        current = con.execute(f"SELECT * FROM {TABLE} ORDER BY ALL").fetchall()
    # Three days on, with a day of retention: every snapshot of today is past it.
    later = datetime.now(UTC) + timedelta(days=3)
    done = maintain(lake, timedelta(days=1), grace=timedelta(0), now=later)

    assert done.snapshots_expired >= 10
    assert done.files_removed >= 10
    with lake.open(read_only=True) as con:
        assert con.execute(f"SELECT * FROM {TABLE} ORDER BY ALL").fetchall() == current
        with pytest.raises(duckdb.Error):
            con.execute(f"SELECT count(*) FROM {TABLE} AT (VERSION => {oldest})").fetchall()
    assert len(_parquet_files(lake)) <= MONTHS


def test_orphaned_files_past_retention_are_deleted_and_recent_ones_kept(tmp_path: Path) -> None:
    lake = Lake.at(tmp_path)
    _small_landings(lake, inlined=False, count=3)
    folder = lake.data_path / "sfm" / "captures" / "month=2026-01"
    old, recent = folder / "crashed-write-old.parquet", folder / "crashed-write-new.parquet"
    for orphan in (old, recent):
        orphan.write_bytes(b"not tracked by the catalog")
    forty_days_ago = time.time() - 40 * 86_400
    os.utime(old, (forty_days_ago, forty_days_ago))

    done = maintain(lake, RETENTION)

    assert (done.orphans_removed, old.exists(), recent.exists()) == (1, False, True)


def test_maintenance_rewrites_the_bi_script(tmp_path: Path) -> None:
    lake = Lake.at(tmp_path)
    _small_landings(lake, inlined=False, count=1)
    maintain(lake, RETENTION)
    assert lake.bi_script.read_text().startswith("-- The gazoduc warehouse, read-only.")


def test_a_retention_of_zero_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="retention"):
        maintain(Lake.at(tmp_path), timedelta(0))


def _gazoduc(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "GAZODUC_HOME": str(home), **env}
    environment.pop("GAZODUC_WAREHOUSE", None)
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *args],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_gazoduc_warehouse_maintain_prints_what_it_did(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _small_landings(Lake.at(home), inlined=False, count=20)

    done = _gazoduc(home, "warehouse", "maintain")

    assert done.returncode == 0, done.stderr
    assert "files merged: 20 into " in done.stdout
    assert "snapshots expired (older than 30 days): 0" in done.stdout
    assert "files read by the latest snapshot: 20;" in done.stdout  # before


def test_a_bad_retention_is_refused_naming_the_variable(tmp_path: Path) -> None:
    done = _gazoduc(tmp_path, "warehouse", "maintain", GAZODUC_SNAPSHOT_RETENTION_DAYS="0")
    assert done.returncode == 1
    assert "GAZODUC_SNAPSHOT_RETENTION_DAYS='0': expected a whole number of days above 0" in (
        done.stderr
    )
    assert "Traceback" not in done.stderr


def test_the_weekly_job_maintains_the_warehouse_of_its_resource(tmp_path: Path) -> None:
    home = tmp_path / "home"
    lake = Lake.at(home)
    _small_landings(lake, inlined=False, count=20)

    result = warehouse_maintenance.execute_in_process(
        resources={"warehouse": WarehouseResource(home=str(home))}
    )

    assert result.success
    with lake.open(read_only=True) as con:
        (live,) = con.execute(
            "SELECT sum(file_count) FROM ducklake_table_info('lake')"
        ).fetchone() or (0,)
    assert live <= MONTHS


def test_the_maintenance_schedule_is_weekly_and_stopped_like_the_others() -> None:
    (schedule,) = [s for s in SCHEDULES if s.job_name == warehouse_maintenance.name]
    assert warehouse_maintenance in JOBS
    assert schedule.cron_schedule == "10 3 * * 0"
    assert schedule.execution_timezone == "Europe/Paris"
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED


def test_maintenance_imports_neither_pipelines_nor_resources_nor_assets_nor_dagster() -> None:
    probe = (
        "import sys, warehouse.maintenance; "
        "print(sorted({n.split('.')[0] for n in sys.modules} "
        "& {'pipelines', 'resources', 'assets', 'dagster'}))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]"


def test_snapshots_and_files_younger_than_their_bounds_stay_on_the_same_day(
    tmp_path: Path,
) -> None:
    """DuckLake 1.5.5 on SQLite takes everything of a bound's own day: minutes-old
    snapshots went with a retention of an hour. The bounds are whole days (maintenance.py)."""
    lake = Lake.at(tmp_path)
    _small_landings(lake, inlined=False, count=5)
    history = _history(lake)

    done = maintain(lake, timedelta(hours=1), grace=timedelta(minutes=1))

    assert done.snapshots_expired == 0
    assert done.files_removed == 0
    assert _history(lake) == history
