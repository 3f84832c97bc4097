"""`gazoduc consents declare` against the ADICT sandbox over HTTP: validate, skip, declare
inside the quota, resume after kill -9 without declaring a meter twice."""

from __future__ import annotations

import csv
import os
import signal
import stat
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.partitions import paris_today
from tests.conftest import Upstream
from tests.integration.consents_support import (
    HOLDER_NAMES,
    customers_file,
    point_cli_at,
)

FAST = 50.0  # calls/s on our side; the sandbox allows twice that, a margin for a busy machine


def result_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as file:
        return list(csv.DictReader(file))


def puts_per_meter(upstream: Upstream) -> Counter[str]:
    return Counter(c.path.split("/")[-2] for c in upstream.calls() if c.method == "PUT")


def assert_no_personal_data(*texts: str) -> None:
    for text in texts:
        assert "@" not in text
        assert not any(name in text for name in HOLDER_NAMES)


@pytest.fixture
def upstream(adict_upstream: Callable[..., Upstream]) -> Upstream:
    return adict_upstream(portfolio_size=40, prospects=200, calls_per_second=2 * FAST)


def test_a_dry_run_lists_the_bad_rows_and_the_held_meters_for_one_call(
    upstream: Upstream,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    case = customers_file(tmp_path / "customers.csv", upstream, paris_today())
    point_cli_at(upstream, monkeypatch, FAST)

    assert main(["consents", "declare", str(case.path), "--dry-run"]) == 1  # bad rows
    printed = capsys.readouterr().out

    assert [(c.method, c.path) for c in upstream.calls()] == [("POST", "/adict/v2/droits_acces")]
    rows = result_rows(tmp_path / "customers.result.csv")
    by_outcome = Counter(r["outcome"] for r in rows)
    assert by_outcome == {"to_declare": 165, "skipped": 20, "invalid": 15}
    assert sorted(int(r["line"]) for r in rows if r["outcome"] == "invalid") == case.bad_lines
    assert {r["id_pce"] for r in rows if r["outcome"] == "skipped"} == set(case.active)
    assert "not sent (invalid): 15" in printed and "skipped: 20" in printed
    for reason in ("duplicate meter", "ends before it starts", "5 years", "holder:", "id_pce:"):
        assert reason in printed
    assert_no_personal_data(printed, (tmp_path / "customers.result.csv").read_text())


def test_a_real_run_declares_the_rest_inside_the_quota_with_no_rejection(
    upstream: Upstream,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    case = customers_file(tmp_path / "customers.csv", upstream, paris_today())
    point_cli_at(upstream, monkeypatch, FAST)

    main(["consents", "declare", str(case.path)])
    printed = capsys.readouterr()

    calls = upstream.calls()
    assert Counter(c.method for c in calls) == {"POST": 1, "PUT": 165}
    assert [c.status for c in calls if c.status != 201 and c.method == "PUT"] == []
    assert puts_per_meter(upstream) == Counter({p: 1 for p in case.new})
    rights = {r["id_pce"]: r for r in upstream.sandbox.portfolio.rights}
    assert {rights[p]["etat_droit_acces"] for p in case.new} == {"A valider"}
    rows = result_rows(tmp_path / "customers.result.csv")
    assert Counter(r["outcome"] for r in rows) == {"declared": 165, "skipped": 20, "invalid": 15}
    declared = {r["id_pce"]: r["id_droit_acces"] for r in rows if r["outcome"] == "declared"}
    assert declared == {p: rights[p]["id_droit_acces"] for p in case.new}
    assert "declarations 165/165 (100%)" in printed.out and "ETA" in printed.out
    assert_no_personal_data(
        printed.out, printed.err, (tmp_path / "customers.result.csv").read_text()
    )
    journal_dir = upstream.home / "state" / "consents"
    assert stat.S_IMODE(journal_dir.stat().st_mode) == 0o700
    for path in [*journal_dir.iterdir(), tmp_path / "customers.result.csv"]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert_no_personal_data(path.read_text())


def test_a_run_killed_mid_way_resumes_without_declaring_a_meter_twice(
    upstream: Upstream,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    case = customers_file(tmp_path / "customers.csv", upstream, paris_today())
    env = os.environ | point_cli_at(upstream, monkeypatch, FAST)
    command = [sys.executable, "-m", "pipelines.cli", "consents", "declare", str(case.path)]
    child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while sum(puts_per_meter(upstream).values()) < 80 and time.monotonic() < deadline:
        time.sleep(0.005)
    child.send_signal(signal.SIGKILL)
    child.wait()
    sent_before_kill = sum(puts_per_meter(upstream).values())
    assert 80 <= sent_before_kill < 165

    main(["consents", "declare", str(case.path)])
    capsys.readouterr()

    assert puts_per_meter(upstream) == Counter({p: 1 for p in case.new})
    assert Counter(c.method for c in upstream.calls()) == {"POST": 2, "PUT": 165}
    rows = result_rows(tmp_path / "customers.result.csv")
    assert Counter(r["outcome"] for r in rows) == {"declared": 165, "skipped": 20, "invalid": 15}


def test_declarations_beyond_todays_budget_wait_for_tomorrow(
    adict_upstream: Callable[..., Upstream],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    upstream = adict_upstream(portfolio_size=20, prospects=20, calls_per_second=2 * FAST)
    case = customers_file(
        tmp_path / "customers.csv", upstream, paris_today(), new=10, active=0, bad=False
    )
    point_cli_at(upstream, monkeypatch, FAST)
    monkeypatch.setenv("ADICT_CALLS_PER_DAY", "7")

    assert main(["consents", "declare", str(case.path)]) == 1
    first = result_rows(tmp_path / "customers.result.csv")
    assert Counter(r["outcome"] for r in first) == {"declared": 6, "not_sent": 4}
    monkeypatch.setenv("ADICT_CALLS_PER_DAY", "100")  # "tomorrow"
    assert main(["consents", "declare", str(case.path)]) == 0
    capsys.readouterr()
    assert Counter(r["outcome"] for r in result_rows(tmp_path / "customers.result.csv")) == {
        "declared": 10
    }
    assert puts_per_meter(upstream) == Counter({p: 1 for p in case.new})


def test_against_grdfs_real_limit_of_one_call_a_second_nothing_is_rejected(
    adict_upstream: Callable[..., Upstream],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    upstream = adict_upstream(portfolio_size=20, prospects=10, calls_per_second=1.0)
    case = customers_file(
        tmp_path / "customers.csv", upstream, paris_today(), new=8, active=2, bad=False
    )
    # Our side at the contract's own rate: the ledger leaves room for each call's delay.
    point_cli_at(upstream, monkeypatch, 1.0)

    assert main(["consents", "declare", str(case.path)]) == 0
    capsys.readouterr()

    # The server refuses (429) any two calls less than a second apart: none was.
    assert [c.status for c in upstream.calls()] == [200] + [201] * 8
