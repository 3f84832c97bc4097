"""Runs that die, runs that meet the daily budget, runs side by side: no call made twice."""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import dagster as dg

import resources.quota
from assets.adict import access_rights, informative_consumption
from pipelines.partitions import paris_today
from sandbox.adict_data import expected_informative
from tests.conftest import CLIENT_ID, Upstream
from tests.warehouse_reader import query as read

INFORMATIVE = (
    "SELECT id_pce, journee_gaziere, energie, statut_conso FROM adict.informative_consumption"
)
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def truth(upstream: Upstream, first: date, last: date) -> list[tuple]:
    rows = expected_informative(upstream.sandbox.portfolio, CLIENT_ID, first, last, paris_today())
    return sorted(
        (r["id_pce"], r["journee_gaziere"], float(r["energie"]), r["statut_conso"]) for r in rows
    )


def landed(upstream: Upstream) -> list[tuple]:
    return sorted(read(upstream.home, INFORMATIVE))


def asked(upstream: Upstream) -> Counter:
    """Informative calls the server answered, per PCE (the ranges here hold no day GRDF
    fails, so each PCE needs exactly one call)."""
    return Counter(c.path for c in upstream.calls("donnees_consos_informatives") if c.status == 200)


def worker(
    upstream: Upstream, first: date, last: date, home: Path | None = None
) -> subprocess.Popen:
    home = home or upstream.home
    spec = {
        "adict": upstream.resource(state_dir=str(home / "state")).model_dump(),
        "home": str(home),
        "first": first.isoformat(),
        "last": last.isoformat(),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.backfill_worker", json.dumps(spec)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_a_killed_backfill_resumes_without_asking_anything_twice(
    adict_upstream: Callable[..., Upstream],
) -> None:
    upstream = adict_upstream(calls_per_second=4.0, portfolio_size=30)
    first, last = paris_today() - timedelta(days=120), paris_today() - timedelta(days=10)
    dg.materialize([access_rights], resources=upstream.resources())
    process = worker(upstream, first, last)
    # Kill -9 between two calls: after the 6th answer is stored, before the next is sent
    # (the one call in flight at a kill is lost with it: no client can store an answer
    # it never finished reading).
    raw = upstream.warehouse().raw_zone()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        sent = len(upstream.calls("donnees_consos_informatives"))
        if sent >= 6 and len(raw.answers("adict", "informative_consumption")) == sent:
            break
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert 6 <= len(upstream.calls("donnees_consos_informatives")) < 20

    upstream.materialize_range(informative_consumption, first, last)
    assert max(asked(upstream).values()) == 1
    assert landed(upstream) == truth(upstream, first, last)


def test_a_backfill_stops_at_the_daily_budget_and_continues_the_next_day(
    adict_upstream: Callable[..., Upstream],
    monkeypatch,
) -> None:
    upstream = adict_upstream(calls_per_day=4)
    # Settled days (months ago): what was answered stays fresh across the day boundary.
    first, last = paris_today() - timedelta(days=200), paris_today() - timedelta(days=150)
    dg.materialize([access_rights], resources=upstream.resources())
    stopped = upstream.materialize_range(informative_consumption, first, last, raise_on_error=False)
    assert not stopped.success
    failure = next(e for e in stopped.all_events if e.event_type_value == "STEP_FAILURE")
    message = str(failure.event_specific_data)
    assert re.search(
        r"4 of 4 calls used today; resumes after .* Europe/Paris\. Asked 3 of (\d+): 3 "
        r"answered.*; (\d+) left for later; what was answered is landed, and a run after the "
        r"reset asks only for the \2 missing",
        message,
    )
    assert sum(asked(upstream).values()) == 3  # the rights took the first of 4 calls
    assert set(landed(upstream)) < set(truth(upstream, first, last))
    assert [c.status for c in upstream.calls()].count(429) == 0

    # The next Paris days: our ledger and the server's counter start again each day,
    # and each run continues where the last one stopped, until the range is complete.
    real_clock = resources.quota.clock
    for day in range(1, 10):
        monkeypatch.setattr(resources.quota, "clock", lambda day=day: real_clock() + day * 86_400)
        upstream.sandbox.quota.reset()
        run = upstream.materialize_range(informative_consumption, first, last, raise_on_error=False)
        if run.success:
            break
    assert run.success and day > 1
    assert max(asked(upstream).values()) == 1
    assert [c.status for c in upstream.calls()].count(429) == 0
    assert landed(upstream) == truth(upstream, first, last)


def test_a_backfill_and_a_daily_refresh_share_one_call_per_second(
    adict_upstream: Callable[..., Upstream],
) -> None:
    upstream = adict_upstream(calls_per_second=1.0, portfolio_size=16)
    today = paris_today()
    dg.materialize([access_rights], resources=upstream.resources())
    backfill = worker(upstream, today - timedelta(days=400), today - timedelta(days=30))
    daily = worker(upstream, today - timedelta(days=3), today - timedelta(days=1))
    assert backfill.wait(timeout=120) == 0 and daily.wait(timeout=120) == 0
    calls = upstream.calls("donnees_consos_informatives")
    assert [c.status for c in calls if c.status != 200] == []
    arrivals = sorted(c.time for c in upstream.calls())
    assert min(b - a for a, b in itertools.pairwise(arrivals)) > 0.95


def test_two_homes_sharing_one_client_id_both_land_everything(
    adict_upstream: Callable[..., Upstream], tmp_path: Path
) -> None:
    """Two teams, one GRDF contract, two ledgers that know nothing of each other: the
    server's 429s widen each one's spacing, jittered retries keep them out of step."""
    upstream = adict_upstream(calls_per_second=1.0, portfolio_size=16)
    other = tmp_path / "other-team"
    dg.materialize([access_rights], resources=upstream.resources())
    dg.materialize(
        [access_rights],
        resources=upstream.resources()
        | {
            "warehouse": upstream.warehouse(home=str(other)),
            "adict": upstream.resource(state_dir=str(other / "state")),
        },
    )
    first, last = paris_today() - timedelta(days=60), paris_today() - timedelta(days=2)
    teams = [worker(upstream, first, last), worker(upstream, first, last, home=other)]
    assert [team.wait(timeout=240) for team in teams] == [0, 0]
    expected = truth(upstream, first, last)
    assert landed(upstream) == expected
    assert sorted(read(other, INFORMATIVE)) == expected
