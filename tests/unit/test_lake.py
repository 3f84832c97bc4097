"""The warehouse's DuckLake: extensions from their packages, the attach, the writes."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from warehouse.lake import (
    DUCKLAKE,
    HTTPFS,
    POSTGRES,
    SQLITE,
    Extension,
    Lake,
    MissingExtension,
    WarehouseNotFound,
    connect,
    masked,
    s3_secret_sql,
)
from warehouse.s3 import S3Location


def test_extensions_load_from_their_packages_with_downloads_off_and_signatures_checked() -> None:
    with connect(DUCKLAKE, SQLITE) as con:
        loaded = con.execute(
            "SELECT extension_name FROM duckdb_extensions() WHERE loaded ORDER BY 1"
        ).fetchall()
        settings = con.execute(
            "SELECT current_setting('autoinstall_known_extensions'), "
            "current_setting('autoload_known_extensions'), "
            "current_setting('allow_unsigned_extensions')"
        ).fetchone()
    assert {"ducklake", "sqlite_scanner"} <= {name for (name,) in loaded}
    assert settings == (False, False, False)


def test_a_missing_extension_package_is_named_with_the_command_that_installs_it() -> None:
    bogus = Extension("ducklake", "duckdb-extension-no-such-package")
    with pytest.raises(MissingExtension) as error:
        connect(bogus)
    assert f"pip install 'duckdb-extension-no-such-package=={duckdb.__version__}'" in str(
        error.value
    )


def test_a_package_built_for_another_duckdb_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "duckdb_extension_stale"
    (package / "extensions" / "v1.4.4").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "extensions" / "v1.4.4" / "ducklake.duckdb_extension").write_bytes(b"old")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(MissingExtension, match=f"for DuckDB {duckdb.__version__}"):
        connect(Extension("ducklake", "duckdb-extension-stale"))


def test_the_default_warehouse_is_a_sqlite_catalog_and_a_data_folder_in_the_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GAZODUC_WAREHOUSE", raising=False)
    lake = Lake.at(tmp_path)
    assert lake.sqlite_catalog == tmp_path / "warehouse.sqlite"
    assert lake.data_path == tmp_path / "warehouse"


def test_gazoduc_warehouse_points_elsewhere_and_may_name_the_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GAZODUC_WAREHOUSE", "ducklake:sqlite:$GAZODUC_HOME/catalogs/lake.sqlite")
    assert Lake.at(tmp_path).sqlite_catalog == tmp_path / "catalogs" / "lake.sqlite"
    monkeypatch.setenv("GAZODUC_WAREHOUSE", "sqlite:/somewhere/lake.sqlite")
    with pytest.raises(ValueError, match="DuckLake attach string"):
        Lake.at(tmp_path)


def test_reading_a_warehouse_nothing_has_written_says_so(tmp_path: Path) -> None:
    with pytest.raises(WarehouseNotFound):
        Lake.at(tmp_path, "ducklake:sqlite:warehouse.sqlite").open(read_only=True)
    assert not (tmp_path / "warehouse.sqlite").exists()  # and creates nothing


def _rows(lake: Lake) -> list[tuple]:
    with lake.open(read_only=True) as con:
        return con.execute("SELECT * FROM t ORDER BY ALL").fetchall()


def _insert(con: duckdb.DuckDBPyConnection, first: int, count: int) -> None:
    con.execute("INSERT INTO t SELECT range FROM range(?, ?)", [first, first + count])


def test_a_failed_write_leaves_the_last_committed_state(tmp_path: Path) -> None:
    lake = Lake.at(tmp_path, "ducklake:sqlite:warehouse.sqlite")
    with lake.open() as con:
        lake.write(con, lambda c: c.execute("CREATE TABLE t (n BIGINT)"))
        lake.write(con, lambda c: _insert(c, 0, 100))

        def half_then_fail(c: duckdb.DuckDBPyConnection) -> None:
            c.execute("DELETE FROM t")
            _insert(c, 1000, 100)
            raise RuntimeError("a blocking rule failed")

        with pytest.raises(RuntimeError, match="blocking rule"):
            lake.write(con, half_then_fail)
    assert _rows(lake) == [(n,) for n in range(100)]


def test_a_commit_refused_because_the_catalog_is_locked_is_retried_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("warehouse.lake.RETRY_WAIT_SECONDS", 0)
    lake = Lake.at(tmp_path, "ducklake:sqlite:warehouse.sqlite")
    attempts = []

    def land(c: duckdb.DuckDBPyConnection) -> str:
        attempts.append(1)
        _insert(c, 0, 5)
        if len(attempts) < 3:
            raise duckdb.IOException("Failed to flush changes into DuckLake: database is locked")
        return "landed"

    with lake.open() as con:
        lake.write(con, lambda c: c.execute("CREATE TABLE t (n BIGINT)"))
        assert lake.write(con, land) == "landed"
    assert len(attempts) == 3
    assert _rows(lake) == [(n,) for n in range(5)]  # once: the failed attempts rolled back


def test_other_database_errors_are_not_retried(tmp_path: Path) -> None:
    lake = Lake.at(tmp_path, "ducklake:sqlite:warehouse.sqlite")
    attempts = []

    def bad(c: duckdb.DuckDBPyConnection) -> None:
        attempts.append(1)
        c.execute("INSERT INTO no_such_table VALUES (1)")

    with lake.open() as con, pytest.raises(duckdb.CatalogException):
        lake.write(con, bad)
    assert len(attempts) == 1


def test_a_copied_home_reads_and_writes_where_it_lands(tmp_path: Path) -> None:
    original, copy = tmp_path / "original", tmp_path / "copy"
    lake = Lake.at(original, "ducklake:sqlite:warehouse.sqlite")
    with lake.open() as con:
        lake.write(con, lambda c: c.execute("CREATE TABLE t (n BIGINT)"))
        lake.write(con, lambda c: _insert(c, 0, 100))  # > 10 rows: a Parquet file, not inlined
    shutil.copytree(original, copy)
    original_files = sorted(p.name for p in (original / "warehouse").rglob("*.parquet"))

    moved = Lake.at(copy, "ducklake:sqlite:warehouse.sqlite")
    with moved.open() as con:
        moved.write(con, lambda c: _insert(c, 100, 100))

    assert sorted(p.name for p in (original / "warehouse").rglob("*.parquet")) == original_files
    assert len(list((copy / "warehouse").rglob("*.parquet"))) == len(original_files) + 1
    shutil.rmtree(original)  # the copy needs nothing of the original
    assert _rows(moved) == [(n,) for n in range(200)]


def test_the_bi_init_script_attaches_the_warehouse_read_only_in_a_bare_session(
    tmp_path: Path,
) -> None:
    lake = Lake.at(tmp_path, "ducklake:sqlite:warehouse.sqlite")
    with lake.open() as con:
        lake.write(con, lambda c: c.execute("CREATE TABLE t (n BIGINT)"))
        script = lake.write_bi_script()
        assert script == tmp_path / "bi" / "attach.sql"
        with duckdb.connect() as bi:  # a BI tool's session: nothing loaded by gazoduc
            bi.execute(script.read_text())
            lake.write(con, lambda c: _insert(c, 0, 3))  # lands after the BI session opened
            assert bi.execute("SELECT count(*) FROM t").fetchone() == (3,)
            with pytest.raises(duckdb.Error, match="read-only"):
                bi.execute("INSERT INTO t VALUES (1)")


def test_a_transaction_conflict_of_a_concurrent_writer_is_retried_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("warehouse.lake.RETRY_WAIT_SECONDS", 0)
    lake = Lake.at(tmp_path, "ducklake:sqlite:warehouse.sqlite")
    attempts = []

    def land(c: duckdb.DuckDBPyConnection) -> None:
        attempts.append(1)
        _insert(c, 0, 5)
        if len(attempts) < 2:
            raise duckdb.TransactionException(
                "Failed to commit DuckLake transaction.\nTransaction conflict - attempting "
                'to delete from table with index "2" - but another transaction has inserted'
            )

    with lake.open() as con:
        lake.write(con, lambda c: c.execute("CREATE TABLE t (n BIGINT)"))
        lake.write(con, land)
    assert len(attempts) == 2
    assert _rows(lake) == [(n,) for n in range(5)]


SHARED = S3Location(
    "gazoduc-data", "prod", "fr-par", "http://minio.local:9000", "AKID", "s3cr3t-key"
)
DATABASE_URL = "postgresql://gazoduc:pg%27pass@db.local:6432/gazoduc?sslmode=require"


def test_the_shared_mode_attaches_a_postgres_catalog_in_its_schema_and_data_on_s3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GAZODUC_WAREHOUSE", raising=False)
    lake = Lake.at(tmp_path, database_url=DATABASE_URL, storage=SHARED)
    assert lake.metadata == (
        "postgres:dbname='gazoduc' host='db.local' port='6432' user='gazoduc' sslmode='require'"
    )
    assert lake.extensions() == (DUCKLAKE, POSTGRES, HTTPFS)
    attach = lake.attach_sql(read_only=True)
    assert "DATA_PATH 's3://gazoduc-data/prod/warehouse/'" in attach
    assert "METADATA_SCHEMA 'ducklake'" in attach and "READ_ONLY" in attach
    assert "pg'pass" not in attach.replace("\\'", "'") and lake.password == "pg'pass"
    assert "pg'pass" not in repr(lake) and "s3cr3t-key" not in repr(lake)


def test_gazoduc_warehouse_still_names_the_catalog_in_the_shared_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GAZODUC_WAREHOUSE", "ducklake:sqlite:$GAZODUC_HOME/w.sqlite")
    lake = Lake.at(tmp_path, database_url=DATABASE_URL, storage=SHARED)
    assert lake.sqlite_catalog == tmp_path / "w.sqlite" and lake.metadata_schema is None
    assert lake.data_url == "s3://gazoduc-data/prod/warehouse/"


def test_the_s3_secret_names_the_endpoint_without_scheme_and_no_key_in_a_script() -> None:
    secret = s3_secret_sql(SHARED)
    assert "ENDPOINT 'minio.local:9000'" in secret and "USE_SSL false" in secret
    assert "URL_STYLE 'path'" in secret and "SCOPE 's3://gazoduc-data/prod/'" in secret
    assert "s3cr3t-key" not in masked(secret)
    in_script = s3_secret_sql(SHARED, from_environment=True)
    assert "getenv('AWS_SECRET_ACCESS_KEY')" in in_script and "s3cr3t-key" not in in_script
    on_aws = s3_secret_sql(S3Location("b", "", "eu-west-3"))
    assert "ENDPOINT" not in on_aws and "KEY_ID" not in on_aws  # DuckDB's own defaults


def test_masked_hides_passwords_and_secret_keys() -> None:
    text = "at \"dbname=x password='pw' user=u\" postgresql://u:pw2@h/db SECRET 'sk'"
    assert (
        masked(text) == "at \"dbname=x password=*** user=u\" postgresql://u:***@h/db SECRET '***'"
    )


def test_a_password_given_as_a_url_option_is_kept_out_of_the_attach_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GAZODUC_WAREHOUSE", raising=False)
    url = "postgresql://gazoduc@db.local/gazoduc?sslmode=require&password=opt-s3cret"
    lake = Lake.at(tmp_path, database_url=url)
    assert lake.password == "opt-s3cret"
    assert "opt-s3cret" not in lake.attach_sql() and "opt-s3cret" not in repr(lake)
    assert "sslmode='require'" in lake.metadata
