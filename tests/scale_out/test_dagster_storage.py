"""Dagster's storage follows GAZODUC_DATABASE_URL: set, runs and events land in PostgreSQL,
where every instance pointed at it sees them; unset, SQLite under DAGSTER_HOME."""

from pathlib import Path

import dagster as dg
import psycopg2
import pytest

from pipelines.launch import dagster_home

pytestmark = pytest.mark.scale_out


@dg.asset
def lamp() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"lit": True})


def _instance_at(folder: Path, monkeypatch: pytest.MonkeyPatch) -> dg.DagsterInstance:
    monkeypatch.setenv("DAGSTER_HOME", str(folder))
    dagster_home()
    return dg.DagsterInstance.get()


def test_runs_and_events_land_in_postgres_for_every_instance(
    home: Path, tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GAZODUC_DATABASE_URL", postgres_url)
    with _instance_at(tmp_path / "machine-a", monkeypatch) as instance:
        result = dg.materialize([lamp], instance=instance)
    assert result.success

    with psycopg2.connect(postgres_url) as con, con.cursor() as cursor:
        cursor.execute("SELECT status FROM runs WHERE run_id = %s", (result.run_id,))
        assert cursor.fetchall() == [("SUCCESS",)]
        cursor.execute("SELECT count(*) FROM event_logs WHERE run_id = %s", (result.run_id,))
        assert cursor.fetchone()[0] > 0
    assert not list((tmp_path / "machine-a").rglob("*.db")), "nothing in SQLite"
    # The file names the variable: the URL, which may hold a password, stays in the env.
    assert postgres_url not in (tmp_path / "machine-a" / "dagster.yaml").read_text()

    with _instance_at(tmp_path / "machine-b", monkeypatch) as elsewhere:
        run = elsewhere.get_run_by_id(result.run_id)
        assert run is not None and run.status == dg.DagsterRunStatus.SUCCESS
        materialization = elsewhere.get_latest_materialization_event(lamp.key)
        assert materialization is not None and materialization.run_id == result.run_id


def test_without_the_variable_the_instance_stays_on_sqlite(
    home: Path, tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same folder, the variable set then unset: the file follows it each time."""
    folder = tmp_path / "machine"
    monkeypatch.setenv("GAZODUC_DATABASE_URL", postgres_url)
    with _instance_at(folder, monkeypatch) as instance:
        assert type(instance.run_storage).__name__.startswith("Postgres")
    monkeypatch.delenv("GAZODUC_DATABASE_URL")
    with _instance_at(folder, monkeypatch) as instance:
        assert type(instance.run_storage).__name__.startswith("Sqlite")
        assert dg.materialize([lamp], instance=instance).success


def test_a_dagster_yaml_of_another_origin_is_left_alone(
    home: Path, tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Helm chart mounts its own instance file: the CLI in that pod must not touch it."""
    folder = tmp_path / "pod"
    folder.mkdir()
    mounted = "storage:\n  sqlite:\n    base_dir: /elsewhere\n"
    (folder / "dagster.yaml").write_text(mounted)
    monkeypatch.setenv("GAZODUC_DATABASE_URL", postgres_url)
    monkeypatch.setenv("DAGSTER_HOME", str(folder))
    dagster_home()
    assert (folder / "dagster.yaml").read_text() == mounted
