"""Two machines sharing nothing but PostgreSQL and S3 run one ADICT backfill at the
contract's rate: no call rejected, none spent twice, the rows of one machine alone.

Each machine is a process with a GAZODUC_HOME of its own (its own temporary folders);
the backfill's range is split between them as Dagster splits a backfill into runs. The
sandbox rejects any call beyond 1 a second, whoever sends it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pytest

from assets.adict import access_rights, informative_consumption
from pipelines.partitions import paris_today
from pipelines.planner import plan_calls, right_from_record
from resources.warehouse import WarehouseResource
from tests.conftest import Upstream
from tests.scale_out.s3 import Shared, moto_endpoint, shared
from tests.warehouse_reader import query

__all__ = ["moto_endpoint", "shared"]  # the fixtures, used by name
pytestmark = [pytest.mark.scale_out, pytest.mark.xdist_group("adict")]

REPO = Path(__file__).resolve().parents[2]
INFORMATIVE = "SELECT * EXCLUDE (fetched_at) FROM adict.informative_consumption ORDER BY ALL"
PCES = 42
# Days GRDF serves without a block to ask again (the sandbox fails none in this range).
FIRST, LAST = paris_today() - timedelta(days=120), paris_today() - timedelta(days=10)
MIDDLE = FIRST + (LAST - FIRST) / 2


def machine(
    upstream: Upstream, home: Path, first: date, last: date, clock_shift: float = 0.0
) -> subprocess.Popen:
    spec = {
        "adict": upstream.resource(state_dir=str(home / "state")).model_dump(),
        "home": str(home),
        "first": first.isoformat(),
        "last": last.isoformat(),
    }
    environment = os.environ | {
        "GAZODUC_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "GAZODUC_TEST_CLOCK_SHIFT": str(clock_shift),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tests.scale_out.machine", json.dumps(spec)],
        cwd=REPO,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def minimum_calls(home: Path, ranges: list[tuple[date, date]]) -> int:
    """What the planner asks for the ranges: one call per PCE and window it may ask."""
    rights = [
        right_from_record(r) for r in WarehouseResource(home=str(home)).latest_access_rights()
    ]
    return sum(
        len(plan_calls("informative_consumption", rights, a, b, paris_today())) for a, b in ranges
    )


def informative_calls(upstream: Upstream) -> list:
    return [c for c in upstream.calls("donnees_consos_informatives")]


def embedded_rows(
    adict_upstream: Callable[..., Upstream],
    shared: Shared,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> list:
    """The same backfill on one machine, everything embedded (a sandbox of the same data)."""
    with monkeypatch.context() as embedded:
        for name in shared.environment():
            embedded.delenv(name, raising=False)
        home = tmp_path / "embedded"
        embedded.setenv("GAZODUC_HOME", str(home))
        alone = adict_upstream(portfolio_size=PCES, calls_per_second=40.0)
        alone.home = home
        dg.materialize([access_rights], resources=alone.resources())
        for first, last in ((FIRST, MIDDLE), (MIDDLE + timedelta(days=1), LAST)):
            assert alone.materialize_range(informative_consumption, first, last).success
        return query(home, INFORMATIVE)


@pytest.mark.parametrize("clock_shift", [0.0, 0.7], ids=["clocks-agree", "one-clock-0.7s-ahead"])
def test_two_machines_share_the_quota_and_land_what_one_machine_lands(
    adict_upstream: Callable[..., Upstream],
    shared: Shared,
    home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    clock_shift: float,
) -> None:
    upstream = adict_upstream(portfolio_size=PCES, calls_per_second=1.0)
    dg.materialize([access_rights], resources=upstream.resources())
    halves = [(FIRST, MIDDLE), (MIDDLE + timedelta(days=1), LAST)]
    machines = [
        machine(upstream, tmp_path / "machine-a", *halves[0]),
        machine(upstream, tmp_path / "machine-b", *halves[1], clock_shift=clock_shift),
    ]
    assert [m.wait(timeout=600) for m in machines] == [0, 0]

    calls = informative_calls(upstream)
    assert [c.status for c in calls if c.status == 429] == []
    assert len(calls) == minimum_calls(home, halves)
    times = sorted(c.time for c in calls)
    rate = (len(times) - 1) / (times[-1] - times[0])
    assert 0.95 <= rate <= 1.0 + 1e-6, f"{rate:.3f} calls/s"
    assert query(home, INFORMATIVE) == embedded_rows(adict_upstream, shared, tmp_path, monkeypatch)


def test_a_machine_killed_mid_backfill_is_replaced_without_a_call_twice(
    adict_upstream: Callable[..., Upstream],
    shared: Shared,
    home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    upstream = adict_upstream(portfolio_size=PCES, calls_per_second=4.0)
    dg.materialize([access_rights], resources=upstream.resources())
    first = machine(upstream, tmp_path / "machine-a", FIRST, LAST)
    raw = WarehouseResource(home=str(home)).raw_zone()
    deadline = time.monotonic() + 120
    while len(raw.answers("adict", "informative_consumption")) < 10:
        assert time.monotonic() < deadline and first.poll() is None
        time.sleep(0.05)
    os.killpg(first.pid, signal.SIGKILL)  # kill -9, the machine's whole process group
    first.wait()
    # The run again, on the other machine (what Dagster's run retry launches).
    second = machine(upstream, tmp_path / "machine-b", FIRST, LAST)
    assert second.wait(timeout=600) == 0

    asked = Counter(c.path for c in informative_calls(upstream) if c.status == 200)
    repeated = [path for path, count in asked.items() if count > 1]
    assert len(repeated) <= 1  # at most the call in flight at the kill, never stored
    assert query(home, INFORMATIVE) == embedded_rows(adict_upstream, shared, tmp_path, monkeypatch)
