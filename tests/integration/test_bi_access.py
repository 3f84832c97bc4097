"""BI access: `gazoduc sql`, and `bi/attach.sql` as a BI tool runs it (the DuckDB shell
and a bare Python DuckDB session), seeing each landing as it commits."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from pipelines.warehouse_cli import duckdb_shell, masked
from warehouse.lake import Lake

REPO = Path(__file__).resolve().parents[2]
ROWS_PER_LANDING, LANDINGS = 5, 20
PASSWORD = "hunter2-never-printed"
# A bare session: it polls until the writer says it is done, and prints what it saw.
READER = """
import json, pathlib, sys, duckdb
script, done = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
con = duckdb.connect()
con.execute(script.read_text())
pathlib.Path(sys.argv[3]).touch()
seen = []
while True:
    finished = done.exists()
    seen.append(con.execute("SELECT count(*), count(DISTINCT landing) FROM t").fetchone())
    if finished:
        break
print(json.dumps(seen))
"""


def _landing(con: duckdb.DuckDBPyConnection, number: int) -> None:
    con.execute(
        f"INSERT INTO t SELECT {number}, range FROM range({ROWS_PER_LANDING})",
    )


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    lake = Lake.at(tmp_path / "home")
    with lake.open() as con:
        lake.write(con, lambda c: c.execute("CREATE TABLE t (landing BIGINT, n BIGINT)"))
        lake.write(con, lambda c: _landing(c, 0))
    return lake


def _gazoduc(
    lake: Lake, *args: str, stdin: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "GAZODUC_HOME": str(lake.data_path.parent), **env}
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "sql", *args],
        cwd=REPO,
        env=environment,
        input=stdin or "",
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_gazoduc_sql_runs_one_statement_and_prints_its_result(lake: Lake) -> None:
    done = _gazoduc(lake, "-c", "SELECT count(*) AS rows_landed FROM t")
    assert done.returncode == 0, done.stderr
    assert "rows_landed" in done.stdout
    assert f"│ {ROWS_PER_LANDING:>11} │" in done.stdout


def test_gazoduc_sql_reads_statements_from_stdin(lake: Lake) -> None:
    done = _gazoduc(lake, stdin="SELECT 40 + 2 AS answer;\n.tables\n")
    assert done.returncode == 0, done.stderr
    assert "answer" in done.stdout and "42" in done.stdout
    listed = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout)  # .tables is in colour
    assert re.search(r"│\s*t\s*│", listed), listed


def test_gazoduc_sql_is_read_only_unless_asked(lake: Lake) -> None:
    refused = _gazoduc(lake, "-c", "INSERT INTO t VALUES (9, 9)")
    assert refused.returncode != 0
    assert "read-only" in refused.stdout + refused.stderr
    assert "Traceback" not in refused.stderr

    written = _gazoduc(lake, "--write", "-c", "INSERT INTO t VALUES (9, 9)")
    assert written.returncode == 0, written.stderr
    with lake.open(read_only=True) as con:
        assert con.execute("SELECT count(*) FROM t WHERE landing = 9").fetchone() == (1,)


def test_gazoduc_sql_writes_the_bi_script_of_this_machine(lake: Lake) -> None:
    assert not lake.bi_script.exists()
    assert _gazoduc(lake, "-c", "SELECT 1").returncode == 0
    assert lake.attach_sql(read_only=True) in lake.bi_script.read_text()


def test_a_catalog_that_cannot_be_reached_is_reported_without_its_password(
    lake: Lake,
) -> None:
    # Port 1 of the loopback: refused at once, and the error names the connection string.
    attach = f"ducklake:postgres:dbname=lake host=127.0.0.1 port=1 user=bi password={PASSWORD}"
    done = _gazoduc(lake, "-c", "SELECT 1", GAZODUC_WAREHOUSE=attach)
    assert done.returncode == 1
    assert "gazoduc sql:" in done.stderr and "password=***" in done.stderr
    assert PASSWORD not in done.stdout + done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "text, shown",
    [
        ("dbname=x password=s3cret host=h", "dbname=x password=*** host=h"),
        ("dbname=x PASSWORD = 's3 cret' host=h", "dbname=x PASSWORD = *** host=h"),
        (
            "ATTACH 'ducklake:postgres:password=''s3 cret'' host=h'",
            "ATTACH 'ducklake:postgres:password=*** host=h'",
        ),
        ("postgresql://bi:s3cret@db:5432/lake", "postgresql://bi:***@db:5432/lake"),
        (
            "ducklake:sqlite:/srv/gazoduc/warehouse.sqlite",
            "ducklake:sqlite:/srv/gazoduc/warehouse.sqlite",
        ),
    ],
)
def test_passwords_are_masked(text: str, shown: str) -> None:
    assert masked(text) == shown


def test_the_duckdb_shell_a_bi_analyst_runs_reads_the_warehouse_with_attach_sql(
    lake: Lake,
) -> None:
    script = lake.write_bi_script()
    done = subprocess.run(
        [str(duckdb_shell()), "-init", str(script), "-csv", "-c", "SELECT count(*) FROM t"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["count_star()", str(ROWS_PER_LANDING)]
    version = subprocess.run([str(duckdb_shell()), "--version"], capture_output=True, text=True)
    assert version.stdout.startswith(f"v{duckdb.__version__} ")


def test_a_bi_session_sees_each_landing_as_it_commits_without_reconnecting(lake: Lake) -> None:
    script = lake.write_bi_script()
    with duckdb.connect() as bi, lake.open() as writer:  # a BI tool's session: bare DuckDB
        bi.execute(script.read_text())
        assert bi.execute("SELECT count(*) FROM t").fetchone() == (ROWS_PER_LANDING,)
        lake.write(writer, lambda c: _landing(c, 1))
        assert bi.execute("SELECT count(*) FROM t").fetchone() == (2 * ROWS_PER_LANDING,)
        with pytest.raises(duckdb.Error, match="read-only"):
            bi.execute("INSERT INTO t VALUES (9, 9)")


def test_a_bi_session_polling_during_landings_never_errors_nor_sees_half_of_one(
    lake: Lake, tmp_path: Path
) -> None:
    script = lake.write_bi_script()
    done, ready = tmp_path / "done", tmp_path / "ready"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(script), str(done), str(ready)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        while not ready.exists():
            assert reader.poll() is None, reader.communicate()[1]
        with lake.open() as writer:
            for number in range(1, LANDINGS + 1):
                lake.write(writer, lambda c, number=number: _landing(c, number))
        done.touch()
        out, err = reader.communicate(timeout=120)
    finally:
        reader.kill()
    assert reader.returncode == 0, err
    seen = [tuple(counts) for counts in json.loads(out)]
    assert all(rows == landings * ROWS_PER_LANDING for rows, landings in seen)
    assert seen == sorted(seen)  # never goes back
    assert seen[-1] == ((LANDINGS + 1) * ROWS_PER_LANDING, LANDINGS + 1)
