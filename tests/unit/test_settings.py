"""Settings: each value checked against its variable's form, with a message naming it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from pipelines.definitions import defs
from resources.adict import AdictResource
from resources.http import UpstreamResource
from resources.settings import (
    PROJECT_DIR,
    SETTINGS,
    MissingSetting,
    SettingError,
    daily_budget,
    gazoduc_home,
    keep_personal_data,
    read,
)
from resources.warehouse import WarehouseResource

ADICT = dict(
    base_url="https://api.grdf.fr/adict/v2",
    token_url="https://okta.example/oauth2/default/v1/token",
    client_id="client",
    client_secret="s3cr3t-never-logged-7f1c",
)


def test_a_daily_budget_that_is_not_a_whole_number_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ADICT_CALLS_PER_DAY", "6k")
    with pytest.raises(SettingError) as refused:
        daily_budget("adict")
    assert str(refused.value) == (
        "ADICT_CALLS_PER_DAY='6k': expected a whole number of calls per Europe/Paris day "
        "above 0, e.g. 6000"
    )


@pytest.mark.parametrize("rate", ["-1", "0", "nan", "one"])
def test_a_rate_of_zero_or_below_is_refused_when_the_run_asks_for_the_ledger(
    rate: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ADICT_CALLS_PER_SECOND", rate)
    resource = AdictResource(**ADICT)  # left None: read when the run starts
    with pytest.raises(SettingError, match=rf"^ADICT_CALLS_PER_SECOND='{rate}': expected a "):
        resource.ledger()


@pytest.mark.parametrize("field, value", [("calls_per_second", -1.0), ("calls_per_day", 0)])
def test_a_pace_set_in_code_is_checked_as_its_variable(field: str, value: float) -> None:
    resource = AdictResource(**ADICT, **{field: value})
    with pytest.raises(SettingError, match=f"^ADICT_{field.upper()}="), resource.client():
        pass


@pytest.mark.parametrize("field", ["base_url", "token_url"])
def test_a_url_without_scheme_is_refused_before_any_call(field: str) -> None:
    resource = AdictResource(**(ADICT | {field: "api.grdf.fr/adict"}))
    with pytest.raises(SettingError) as refused, resource.client():
        pass
    assert str(refused.value).startswith(
        f"ADICT_{field.upper()}='api.grdf.fr/adict': expected an http:// or https:// URL, e.g. "
    )


def test_a_required_variable_left_unset_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INGRID_CONTRACT_CODE", raising=False)
    with pytest.raises(MissingSetting, match=r"^environment variable INGRID_CONTRACT_CODE "):
        read("INGRID_CONTRACT_CODE")


def test_a_variable_left_unset_or_empty_takes_its_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INGRID_CALLS_PER_DAY", raising=False)
    monkeypatch.setenv("SFM_CALLS_PER_DAY", "")
    assert (daily_budget("ingrid"), daily_budget("sfm")) == (10_000, 10_000)


def test_a_secret_is_never_shown_in_a_refusal() -> None:
    secret = " \t "  # blank: the one form a secret can fail
    with pytest.raises(SettingError) as refused:
        read("ADICT_CLIENT_SECRET", secret)
    assert str(refused.value) == "ADICT_CLIENT_SECRET=(hidden): expected some text"


@pytest.mark.parametrize("value, kept", [("1", True), ("yes", True), ("0", False)])
def test_personal_data_is_kept_only_when_asked(
    value: str, kept: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GAZODUC_KEEP_PERSONAL_DATA", value)
    assert keep_personal_data() is kept


def test_a_misspelt_personal_data_flag_is_refused_not_read_as_no(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GAZODUC_KEEP_PERSONAL_DATA", "ture")
    with pytest.raises(SettingError, match=r"^GAZODUC_KEEP_PERSONAL_DATA='ture': expected 1 or 0"):
        keep_personal_data()


def _home_seen_from(cwd: Path) -> list[str]:
    """The home a fresh process started in `cwd` finds, by the settings and the warehouse."""
    script = (
        "from resources.settings import gazoduc_home\n"
        "from resources.warehouse import WarehouseResource\n"
        "print(gazoduc_home())\n"
        "print(WarehouseResource(home='relative-home').home_path)\n"
    )
    env = {"GAZODUC_HOME": "relative-home", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=cwd, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_a_relative_home_is_the_same_absolute_folder_for_every_process(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b" / "c"
    first.mkdir()
    second.mkdir(parents=True)
    expected = str(PROJECT_DIR / "relative-home")
    assert _home_seen_from(first) == _home_seen_from(second) == [expected, expected]


def test_an_absolute_home_is_kept_and_a_tilde_expanded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert gazoduc_home(str(tmp_path / "x")) == tmp_path / "x"
    assert gazoduc_home("~/y") == tmp_path / "y"


def test_the_definitions_bind_each_upstream_field_to_its_own_variable_or_leave_it_to_the_run() -> (
    None
):
    for key in ("adict", "ingrid", "sfm"):
        resource = defs.resources[key]
        assert isinstance(resource, UpstreamResource)
        for field in type(resource).model_fields:
            value = getattr(resource, field)
            assert value is None or (
                isinstance(value, dg.EnvVar) and value.env_var_name == resource.variable(field)
            ), f"{key}.{field}"
            assert value is None or resource.variable(field) in {s.name for s in SETTINGS}


def test_the_warehouse_is_built_when_the_run_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GAZODUC_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GAZODUC_KEEP_PERSONAL_DATA", "1")
    with dg.build_resources({"warehouse": defs.resources["warehouse"]}) as built:
        warehouse = built.warehouse
    assert isinstance(warehouse, WarehouseResource)
    assert (warehouse.home_path, warehouse.keep_personal_data) == (tmp_path / "home", True)


def test_the_readme_lists_every_variable_of_the_settings_table() -> None:
    readme = (PROJECT_DIR / "README.md").read_text()
    section = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    table = [line for line in section.splitlines() if line.startswith("| `")]
    listed = {name for line in table for name in re.findall(r"`([A-Z_]+)`", line.split("|")[1])}
    assert listed == {s.name for s in SETTINGS} | {"DAGSTER_HOME"}
