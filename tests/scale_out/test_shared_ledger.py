"""One quota ledger for every machine: the PostgreSQL store, timed by the database's clock.

The ledger's rules again on PostgreSQL (the unit cases that apply to any store, through
the `where` and `moved` fixtures overridden here), then real processes, each with a
GAZODUC_HOME of its own and sharing only the database URL, against the ADICT sandbox's
real per-second quota: no call rejected, even with one machine's clock 0.7 s ahead.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import psycopg2
import pytest

import resources.quota
from pipelines.cli import main as gazoduc
from pipelines.report import collect
from resources.quota import PostgresStore, QuotaLedger, QuotaLimits, usage_by_client
from resources.settings import api_ledger
from tests.conftest import CLIENT_ID, Upstream
from tests.unit.test_quota_ledger import (  # noqa: F401 (collected here, on PostgreSQL)
    MovedClock,
    claim_in_processes,
    test_a_call_still_unanswered_holds_the_next_one_back_by_a_bounded_margin,
    test_a_daily_budget_rejection_is_kept_but_does_not_slow_the_pace,
    test_a_per_second_rejection_widens_the_spacing_for_every_process_then_fades,
    test_a_spent_daily_budget_says_when_it_resets,
    test_clients_have_separate_budgets,
    test_slots_are_spaced_by_the_interval_plus_the_base_margin,
    test_the_daily_budget_resets_at_paris_midnight_not_utc,
    test_the_next_slot_leaves_room_for_the_previous_calls_delay,
)

pytestmark = pytest.mark.scale_out
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def where(postgres_url: str) -> str:
    return postgres_url


@pytest.fixture
def moved(monkeypatch: pytest.MonkeyPatch) -> MovedClock:
    """The database's clock, moved by the test (this process's is not the ledger's)."""
    moved = MovedClock(monkeypatch)
    monkeypatch.setattr(PostgresStore, "_now", staticmethod(lambda cursor: moved.now))
    return moved


def rows(url: str, sql: str) -> list[tuple]:
    with psycopg2.connect(url) as con, con.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()


def database_now(url: str) -> float:
    return rows(url, "SELECT extract(epoch FROM clock_timestamp())::float8")[0][0]


def test_processes_never_claim_slots_closer_than_the_limit(postgres_url: str) -> None:
    rate = 20.0
    claim_in_processes(postgres_url, rate, processes=3, each=10)
    times = [at for (at,) in rows(postgres_url, "SELECT at FROM gazoduc.quota_slots ORDER BY at")]
    assert len(times) == 30
    assert min(b - a for a, b in itertools.pairwise(times)) >= 1 / rate


def test_slots_are_dated_by_the_databases_clock_not_this_machines(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ahead = 3600.0
    monkeypatch.setattr(resources.quota, "clock", lambda: database_now(postgres_url) + ahead)
    ledger = QuotaLedger(postgres_url, "adict", "c", QuotaLimits(1000.0, 10))
    before = database_now(postgres_url)
    slot = ledger.acquire()
    assert before <= slot.at <= database_now(postgres_url)
    assert slot.local_at - slot.at == pytest.approx(ahead, abs=1.0)  # delays start here


def test_processes_starting_at_once_create_the_tables_once(postgres_url: str) -> None:
    start, failures = threading.Barrier(8), []

    def open_ledger() -> None:
        start.wait()
        try:
            QuotaLedger(postgres_url, "adict", "c", QuotaLimits(1.0, 10)).close()
        except Exception as error:  # reported by the assertion below
            failures.append(error)

    threads = [threading.Thread(target=open_ledger) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    tables = rows(postgres_url, "SELECT tablename FROM pg_tables WHERE schemaname = 'gazoduc'")
    assert sorted(t for (t,) in tables) == ["quota_pace", "quota_rejections", "quota_slots"]


def test_a_connection_lost_between_two_calls_is_made_again(postgres_url: str) -> None:
    """A database restart between two calls costs no run: the next turn reconnects."""
    ledger = QuotaLedger(postgres_url, "adict", "c", QuotaLimits(1000.0, 10))
    ledger.acquire()
    (terminated,) = rows(
        postgres_url,
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE datname = current_database() AND application_name = 'gazoduc quota ledger'",
    )
    assert terminated == (1,)
    ledger.acquire()
    assert ledger.used_today() == 2


def test_the_commands_and_the_report_read_the_shared_ledger(
    postgres_url: str, home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("GAZODUC_DATABASE_URL", postgres_url)
    monkeypatch.setenv("ADICT_CLIENT_ID", "client-a")
    assert usage_by_client(postgres_url) == []  # before any process made the tables
    ledger = api_ledger("adict")
    ledger.acquire()
    ledger.rejected(429, "Quota de 1 appel(s) par seconde dépassé.", per_second=True)
    assert not (home / "state" / "quota.sqlite").exists()
    assert gazoduc(["quota"]) == 0
    printed = capsys.readouterr().out
    assert "adict    client-a" in printed and "1 calls of 6,000" in printed
    assert "rejected" in printed and "HTTP 429" in printed
    report = collect(home)
    assert [(q.client, q.calls, q.rejections) for q in report.quota] == [("client-a", 1, 1)]


# --- machines sharing one client at 1 call/s against the sandbox's real quota ------------

CALLS_PER_PROCESS = 8


def run_machines(upstream: Upstream, url: str, tmp_path: Path, shifts: list[float]) -> None:
    """One process per clock shift, each with a home of its own, all on `url`'s ledger."""
    spec = {
        "adict": upstream.resource(state_dir=None).model_dump(),
        "id_pce": upstream.sandbox.portfolio.pces[0].id_pce,
        "calls": CALLS_PER_PROCESS,
    }
    machines = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.scale_out.ledger_worker", json.dumps(spec)],
            cwd=REPO,
            env=os.environ
            | {
                "GAZODUC_HOME": str(tmp_path / f"machine-{n}"),
                "GAZODUC_DATABASE_URL": url,
                "GAZODUC_TEST_CLOCK_SHIFT": str(shift),
            },
        )
        for n, shift in enumerate(shifts)
    ]
    for machine in machines:
        assert machine.wait(timeout=180) == 0


def assert_no_rejection_at_nearly_the_limit(upstream: Upstream, machines: int) -> None:
    calls = upstream.calls()
    assert len(calls) == machines * CALLS_PER_PROCESS
    assert [c.status for c in calls if c.status != 200] == []
    times = sorted(c.time for c in calls)
    rate = (len(times) - 1) / (times[-1] - times[0])
    assert 0.95 <= rate <= 1.0


def test_three_machines_sharing_a_client_get_no_429_at_nearly_the_limit(
    adict_upstream: Callable[..., Upstream], postgres_url: str, tmp_path: Path
) -> None:
    upstream = adict_upstream(calls_per_second=1.0)
    run_machines(upstream, postgres_url, tmp_path, shifts=[0.0, 0.0, 0.0])
    assert_no_rejection_at_nearly_the_limit(upstream, machines=3)


def test_a_machine_whose_clock_is_ahead_gets_no_429_either(
    adict_upstream: Callable[..., Upstream], postgres_url: str, tmp_path: Path
) -> None:
    """A ledger dated by each machine's clock would let the one 0.7 s ahead send 0.3 s
    after another's call: the sandbox would refuse it."""
    upstream = adict_upstream(calls_per_second=1.0)
    run_machines(upstream, postgres_url, tmp_path, shifts=[0.0, 0.7, 0.0])
    assert_no_rejection_at_nearly_the_limit(upstream, machines=3)
    clients = {c.client_id for c in upstream.calls()}
    assert clients == {CLIENT_ID}
