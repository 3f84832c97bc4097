"""The shared mode: raw answers on S3 with their manifest in PostgreSQL, the DuckLake
catalog in PostgreSQL with its data on S3; machines with homes of their own see one
warehouse, write it at once, and no password or key ever shows."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb
import psycopg2
import pytest

from resources.adict import read_window
from resources.warehouse import WarehouseResource
from sandbox.adict_data import DataType
from tests.integration.test_build_from_files import TODAY, _answers
from tests.scale_out.s3 import DB_PASSWORD, SECRET_KEY, Shared, moto_endpoint, shared
from tests.scale_out.shared_worker import ROWS_PER_COMMIT
from warehouse.adict import INFORMATIVE_CONSUMPTION
from warehouse.build import build_windows
from warehouse.lake import Lake
from warehouse.lake_table import LakeTable, close_sessions
from warehouse.maintenance import maintain
from warehouse.raw import DamagedAnswer, RawZone
from warehouse.s3 import S3Location

pytestmark = pytest.mark.scale_out
__all__ = ["moto_endpoint", "shared"]  # the fixtures, used by name

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 240  # seconds: three DuckDB processes on a busy 2-core machine
BODY = b'{"id_pce": "GI000001", "valeur": 12.5}\n'


@pytest.fixture(autouse=True)
def fresh_sessions() -> None:
    """Each test attaches its own catalog, not the one a previous test left open."""
    close_sessions()


def _raw(home: Path) -> RawZone:
    return WarehouseResource(home=str(home)).raw_zone()


def _put(raw: RawZone, scope: str = "GI000001", body: bytes = BODY) -> object:
    day = date(2026, 10, 1)
    return raw.put("adict", "informative_consumption", scope, day, day, body, "data", 1)


def test_answers_are_stored_on_s3_and_listed_in_postgres_for_every_home(
    shared: Shared, home: Path, tmp_path: Path
) -> None:
    raw = _raw(home)
    answer = _put(raw)
    assert shared.objects() == [f"raw/{answer.path}"]
    assert not (home / "raw").exists() and not (home / "state" / "raw.sqlite").exists()
    assert raw.file(answer) == f"s3://{shared.storage.bucket}/prod/eu/raw/{answer.path}"
    with psycopg2.connect(shared.database_url) as con, con.cursor() as cursor:
        cursor.execute("SELECT path, records FROM raw.answers")
        assert cursor.fetchall() == [(answer.path, 1)]

    other = _raw(tmp_path / "other-machine")  # another home, the same settings
    assert other.answers("adict", "informative_consumption") == [answer]
    assert other.read(answer) == BODY
    assert other.verified([answer]) == [answer]
    _raw(home)  # opening the manifest again changes nothing
    assert len(raw.answers("adict", "informative_consumption")) == 1


def test_a_damaged_object_is_set_aside_under_damaged_and_leaves_the_manifest(
    shared: Shared, home: Path
) -> None:
    raw = _raw(home)
    damaged, intact = _put(raw, "GI000001"), _put(raw, "GI000002")
    stored = bytearray(shared.get(f"raw/{damaged.path}"))
    stored[len(stored) // 2] ^= 0xFF
    shared.put(f"raw/{damaged.path}", bytes(stored))

    assert raw.verified([damaged, intact]) == [intact]
    assert shared.objects() == sorted([f"raw/_damaged/{damaged.path}", f"raw/{intact.path}"])
    assert raw.answers("adict", "informative_consumption") == [intact]
    assert raw.set_aside == [damaged]
    with pytest.raises(DamagedAnswer):  # a missing object is damage too
        raw.read(damaged)


def test_s3_out_of_reach_is_no_damage_and_a_wrong_bucket_is_named(
    shared: Shared, home: Path
) -> None:
    raw = _raw(home)
    answer = _put(raw)
    unreachable = S3Location("b", "", "eu-west-3", "http://127.0.0.1:9", "k", SECRET_KEY)
    raw.files = type(raw.files)(unreachable.filesystem(), "b/raw", unreachable)
    with pytest.raises(OSError) as error:
        raw.read(answer)
    assert not isinstance(error.value, DamagedAnswer) and raw.set_aside == []
    assert len(_raw(home).answers("adict", "informative_consumption")) == 1

    missing = S3Location("no-such-bucket", "", "eu-west-3", shared.storage.endpoint)
    with pytest.raises(FileNotFoundError, match="no-such-bucket"):
        RawZone(home, shared.database_url, missing)


def test_a_landing_on_postgres_and_s3_equals_the_same_landing_embedded(
    shared: Shared, home: Path, tmp_path: Path
) -> None:
    raw = _raw(home)
    answers = _answers(raw, INFORMATIVE_CONSUMPTION.name, DataType.INFORMATIVE)
    first, last = TODAY - timedelta(days=400), TODAY
    spec = INFORMATIVE_CONSUMPTION
    build_windows(
        WarehouseResource(home=str(home)).table(spec), raw, answers, first, last, read_window
    )

    # The same answers (same files, same fetched_at) in an embedded home.
    embedded_home = tmp_path / "embedded"
    embedded = RawZone(embedded_home)
    for answer in answers:
        embedded.files.write(answer.path, shared.get(f"raw/{answer.path}"))
        embedded.manifest.add(answer)
    embedded_lake = Lake.at(embedded_home)
    build_windows(LakeTable(embedded_lake, spec), embedded, answers, first, last, read_window)

    sql = f"SELECT * FROM {spec.schema}.{spec.name} ORDER BY ALL"
    shared_lake = WarehouseResource(home=str(home)).lake()
    with shared_lake.open(read_only=True) as con:
        landed = con.execute(sql).fetchall()
    with embedded_lake.open(read_only=True) as con:
        assert landed == con.execute(sql).fetchall()
    assert len(landed) > 1000  # more than is inlined: Parquet files were written
    assert any(key.endswith(".parquet") for key in shared.objects("warehouse/"))
    assert not (home / "warehouse").exists() and not (home / "warehouse.sqlite").exists()

    # Maintenance counts and cleans the bucket's files, and changes no row.
    done = maintain(shared_lake, timedelta(days=30))
    assert done.before.disk_files > 0 and done.before.disk_bytes > 0
    assert done.after.disk_files == len(shared.objects("warehouse/")) > 0
    with shared_lake.open(read_only=True) as con:
        assert con.execute(sql).fetchall() == landed


def _worker(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.scale_out.shared_worker", *args],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finished(process: subprocess.Popen[str]) -> str:
    out, err = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 0, err
    retried = [line for line in err.splitlines() if "retrying" in line]
    print(f"{len(retried)} writes retried: {retried[:1]}")  # what the writers met (pytest -s)
    return out


def test_two_machines_with_homes_of_their_own_see_one_warehouse(
    shared: Shared, tmp_path: Path
) -> None:
    first, second = tmp_path / "machine-1", tmp_path / "machine-2"
    go = tmp_path / "go"
    go.touch()
    _finished(_worker("writer", str(first), "readings", "one", "2", str(go)))
    counted = _finished(_worker("count", str(second), "readings"))
    assert json.loads(counted) == {"one": ROWS_PER_COMMIT}
    assert not (second / "warehouse").exists()


def test_three_writers_committing_at_once_on_the_postgres_catalog_all_commit(
    shared: Shared, tmp_path: Path
) -> None:
    """Two on one table, each replacing its rows six times (DuckLake refuses one of two
    such commits at once, "Transaction conflict": retried whole) and one on another table
    (DuckLake commits it beside the others by itself). Every landing commits once."""
    go = tmp_path / "go"
    writers = [("w1", "shared_table"), ("w2", "shared_table"), ("w3", "other_table")]
    homes = {name: tmp_path / name for name, _ in writers}
    processes = [
        _worker("writer", str(homes[name]), table, name, "6", str(go)) for name, table in writers
    ]
    deadline = time.monotonic() + TIMEOUT
    while not all((h / "ready").exists() for h in homes.values()):
        for process in processes:
            assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, "writers never got ready"
        time.sleep(0.05)
    go.touch()
    logs = [_finished(p) for p in processes]
    assert logs == ["", "", ""]

    lake = WarehouseResource(home=str(tmp_path / "reader")).lake()
    with lake.open(read_only=True) as con:
        landed = "SELECT writer, max(day), count(*) FROM {} GROUP BY ALL ORDER BY ALL"
        assert con.execute(landed.format("shared_table")).fetchall() == [
            ("w1", 5, ROWS_PER_COMMIT),
            ("w2", 5, ROWS_PER_COMMIT),
        ]
        assert con.execute(landed.format("other_table")).fetchall() == [("w3", 5, ROWS_PER_COMMIT)]
        messages = con.execute("SELECT commit_message FROM lake.snapshots()").fetchall()
    committed = {m for (m,) in messages if m and " day " in m}
    assert committed == {f"{name} day {day}" for name, _ in writers for day in range(6)}


def test_gazoduc_sql_runs_on_the_shared_warehouse_from_a_script_without_secrets(
    shared: Shared, home: Path, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    go.touch()
    _finished(_worker("writer", str(tmp_path / "writer"), "readings", "one", "1", str(go)))
    gazoduc = REPO / ".venv" / "bin" / "gazoduc"
    done = subprocess.run(
        [str(gazoduc), "sql", "-c", "SELECT count(*) AS n FROM readings"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=os.environ,
    )
    assert done.returncode == 0, done.stderr
    assert str(ROWS_PER_COMMIT) in done.stdout

    script = home / "bi" / "attach.sql"
    text = script.read_text()
    assert stat.S_IMODE(script.stat().st_mode) == 0o600
    assert "getenv('AWS_SECRET_ACCESS_KEY')" in text and "METADATA_SCHEMA 'ducklake'" in text
    assert SECRET_KEY not in text and DB_PASSWORD not in text


def test_no_password_or_key_in_what_a_failure_says(
    shared: Shared, home: Path, tmp_path: Path
) -> None:
    wrong_port = shared.database_url.replace(":5432/", ":9/")
    lake = Lake.at(home, database_url=wrong_port, storage=shared.storage)
    with pytest.raises(duckdb.Error) as error:
        lake.open(read_only=True)
    assert "Unable to connect" in str(error.value) and DB_PASSWORD not in str(error.value)
    with pytest.raises(OSError) as locked:  # a writer first takes the catalog's lock
        lake.open()
    assert "writer lock" in str(locked.value) and DB_PASSWORD not in str(locked.value)
    assert DB_PASSWORD not in repr(lake) and SECRET_KEY not in repr(lake)

    with pytest.raises(psycopg2.Error) as refused:
        RawZone(home, wrong_port, shared.storage)
    assert DB_PASSWORD not in str(refused.value)

    done = subprocess.run(
        [str(REPO / ".venv" / "bin" / "gazoduc"), "sql", "-c", "SELECT 1"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env={**os.environ, "GAZODUC_DATABASE_URL": wrong_port},
    )
    assert done.returncode == 1 and "Unable to connect" in done.stderr
    assert DB_PASSWORD not in done.stderr + done.stdout
    assert SECRET_KEY not in done.stderr + done.stdout
