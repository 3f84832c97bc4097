"""Several processes on one warehouse: writers never fail, readers only see commits."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from tests.integration.lake_worker import READER_ROWS, READER_TABLE, ROWS_PER_COMMIT
from warehouse.lake import Lake

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 180  # seconds: generous for a busy 2-core machine


def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.lake_worker", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_ready(home: Path, names: list[str], processes: list[subprocess.Popen[str]]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not all((home / f"{name}.ready").exists() for name in names):
        for process in processes:
            if process.poll() is not None:
                raise AssertionError(f"a worker died early: {process.communicate()[1]}")
        assert time.monotonic() < deadline, "workers never got ready"
        time.sleep(0.05)


def test_three_processes_committing_at_once_to_different_tables_all_succeed(
    tmp_path: Path,
) -> None:
    home, commits = tmp_path / "home", 30
    home.mkdir()
    tables = ["adict_rows", "ingrid_rows", "sfm_rows"]
    go = tmp_path / "go"
    writers = [_spawn("writer", str(home), table, str(commits), str(go)) for table in tables]
    _wait_ready(home, [f"writer-{t}" for t in tables], writers)
    go.touch()
    outcomes = [w.communicate(timeout=TIMEOUT) for w in writers]

    assert [w.returncode for w in writers] == [0, 0, 0], [err for _, err in outcomes]
    with Lake.at(home).open(read_only=True) as con:
        for table in tables:
            assert con.execute(f"SELECT count(*), count(DISTINCT day) FROM {table}").fetchone() == (
                commits * ROWS_PER_COMMIT,
                commits,
            )
        landings = con.execute(
            "SELECT count(*) FROM lake.snapshots() WHERE changes['tables_inserted_into'] IS NOT NULL"
            " OR changes['inlined_insert'] IS NOT NULL"
        ).fetchone()
    assert landings == (3 * commits,)


def test_a_reader_querying_during_twenty_landings_sees_only_committed_states(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    lake = Lake.at(home)

    def land(k: int) -> None:
        def replace_all(c: duckdb.DuckDBPyConnection) -> None:
            c.execute(f"DELETE FROM {READER_TABLE}")
            c.execute(
                f"INSERT INTO {READER_TABLE} SELECT DATE '2026-01-01' + (range % 90)::INT, ? "
                "FROM range(?)",
                [k, READER_ROWS],
            )

        lake.write(con, replace_all)

    with lake.open() as con:
        lake.write(
            con,
            lambda c: c.execute(
                f"CREATE TABLE {READER_TABLE} (day DATE, k INT);"
                f"ALTER TABLE {READER_TABLE} SET PARTITIONED BY (year(day), month(day))"
            ),
        )
        land(0)
        stop = tmp_path / "stop"
        reader = _spawn("reader", str(home), str(stop))
        _wait_ready(home, ["reader"], [reader])
        for k in range(1, 21):
            land(k)
            time.sleep(0.05)  # let the reader query between landings
        stop.touch()
        out, err = reader.communicate(timeout=TIMEOUT)

    assert reader.returncode == 0, err
    seen = json.loads(out)
    assert seen["errors"] == []
    states = [tuple(s) for s in seen["states"]]
    assert all(count == READER_ROWS and low == high for count, low, high in states), states
    # It saw the landings as they committed, without reconnecting: the last one included.
    assert (READER_ROWS, 20, 20) in states
    assert len(states) > 2
