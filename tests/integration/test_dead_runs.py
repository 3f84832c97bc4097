"""A killed run never holds its pool slot: the same command, launched again, starts at once
and asks only for what was not stored (`gazoduc backfill` in a real Dagster instance)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest

from assets.adict import access_rights
from pipelines.partitions import paris_today
from tests.conftest import CLIENT_ID, CLIENT_SECRET, Upstream
from tests.integration.test_resumable_runs import asked, landed, truth

GAZODUC = str(Path(sys.executable).parent / "gazoduc")
REPO = Path(__file__).resolve().parents[2]


def backfill_command(upstream: Upstream, tmp_path: Path) -> tuple[list[str], dict[str, str]]:
    today = paris_today()
    first, last = today - timedelta(days=200), today - timedelta(days=2)
    env = os.environ | {
        "GAZODUC_HOME": str(upstream.home),
        "DAGSTER_HOME": str(tmp_path / "dagster"),
        "ADICT_BASE_URL": f"{upstream.server.base_url}/adict/v2",
        "ADICT_TOKEN_URL": f"{upstream.server.base_url}/oauth2/token",
        "ADICT_CLIENT_ID": CLIENT_ID,
        "ADICT_CLIENT_SECRET": CLIENT_SECRET,
        "ADICT_CALLS_PER_SECOND": str(upstream.sandbox.config.calls_per_second),
    }
    command = [GAZODUC, "backfill", "adict/informative_consumption"]
    return [*command, "--from", first.isoformat(), "--to", last.isoformat()], env


def asked_windows(upstream: Upstream) -> Counter[tuple[str, str]]:
    """Answered informative calls per PCE and window asked."""
    calls = upstream.calls("donnees_consos_informatives")
    return Counter((c.path, str(sorted(c.query.items()))) for c in calls if c.status == 200)


def wait_for_calls(upstream: Upstream, count: int, output: Path, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while sum(asked(upstream).values()) < count:
        assert time.monotonic() < deadline, f"no progress: {output.read_text()[-3000:]}"
        time.sleep(0.05)


def group_members(pgid: int) -> list[str]:
    """Live (not zombie) processes of a process group, as 'pid command' lines."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            command = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(f"{stat.parent.name} {command[:120]}")
    return members


def wait_until_empty(pgid: int, timeout: float = 15.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while (members := group_members(pgid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return members


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"


@pytest.mark.parametrize("kill", ["process_group", "parent_only"])
def test_a_killed_backfill_frees_its_pool_slot_and_the_same_command_resumes(
    adict_upstream: Callable[..., Upstream], tmp_path: Path, kill: str
) -> None:
    upstream = adict_upstream(calls_per_second=4.0, portfolio_size=16)
    dg.materialize([access_rights], resources=upstream.resources())
    command, env = backfill_command(upstream, tmp_path)
    output = tmp_path / "first-run.log"
    with output.open("wb") as log:
        first = subprocess.Popen(
            command, env=env, cwd=REPO, start_new_session=True, stdout=log, stderr=log
        )
    wait_for_calls(upstream, 4, output)
    if kill == "process_group":
        os.killpg(first.pid, signal.SIGKILL)
    else:
        os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    assert wait_until_empty(first.pid) == []  # no orphan left to finish and land on its own
    before = sum(asked(upstream).values())

    started = time.monotonic()
    again = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=180)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert "process" in again.stdout and "gone, marked failed" in again.stdout
    assert "blocked by limit for pool" not in again.stdout + again.stderr
    assert time.monotonic() - started < 120
    # Asked only what was missing: the call in flight when the run died, at most, twice.
    assert sum(asked(upstream).values()) > before
    assert sum(n - 1 for n in asked_windows(upstream).values()) <= 1
    today = paris_today()
    assert landed(upstream) == truth(upstream, today - timedelta(days=200), today - timedelta(2))
    assert gone(first.pid)
