"""Runs' steps on Celery workers: two `gazoduc worker` processes, each with a home of its
own, sharing only the PostgreSQL database and the RabbitMQ broker with the process that
launches the run (tests/scale_out/worker_job.py has the job and its steps).

The broker's `dagster` queue is the machine's, and a worker runs any step it is handed,
in the database of its own environment: the tests of this module hold a file lock while
their workers live (pytest workers, other sessions of the suite on the machine), and each
starts with the queue emptied of what a failed run may have left in it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import psycopg2
import pytest

from pipelines.launch import dagster_home
from pipelines.workers import celery_app
from tests.scale_out import worker_job

pytestmark = pytest.mark.scale_out

REPO_ROOT = Path(__file__).resolve().parents[2]
GAZODUC = Path(sys.executable).parent / "gazoduc"
BROKER_LOCK = Path(tempfile.gettempdir()) / "gazoduc-tests-celery-broker.lock"
READY_SECONDS = 60.0
RUN_SECONDS = 120.0


class Workers:
    """`gazoduc worker` processes, each in a process group of its own (its prefork
    children with it), each with its own GAZODUC_HOME and DAGSTER_HOME."""

    def __init__(self, tmp_path: Path, database: str) -> None:
        self.tmp_path, self.database = tmp_path, database
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str) -> subprocess.Popen[bytes]:
        folder = self.tmp_path / name
        folder.mkdir()
        env = os.environ | {
            "GAZODUC_HOME": str(folder / "gazoduc"),
            "DAGSTER_HOME": str(folder / "dagster"),
            "GAZODUC_DATABASE_URL": self.database,
            "PYTHONPATH": str(REPO_ROOT),  # the test job's module
        }
        with (folder / "worker.log").open("wb") as log:
            process = subprocess.Popen(
                [str(GAZODUC), "worker", "--name", self.node_name(name)],
                env=env,
                cwd=folder,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes[name] = process
        return process

    def node_name(self, name: str) -> str:
        # Unique on the broker: a node name of the test before, its control queue not yet
        # released by RabbitMQ, would stop the new worker.
        return f"{name}-{self.tmp_path.name}-{os.getpid()}"

    def wait_ready(self) -> None:
        """Until every worker answers a ping over the broker."""
        app = celery_app()
        expected = {f"{self.node_name(name)}@{socket.gethostname()}" for name in self.processes}
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            answered = {name for reply in app.control.ping(timeout=1.0) for name in reply}
            if expected <= answered:
                return
        pytest.fail(f"workers not ready in {READY_SECONDS:.0f} s: {self.logs()}")

    def kill(self, pid: int) -> None:
        """kill -9 of a worker and its children, as a lost machine would."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        next(p for p in self.processes.values() if p.pid == pid).wait()

    def stop_all(self) -> None:
        for process in self.processes.values():
            self.kill(process.pid)

    def logs(self) -> str:
        return "\n".join(
            f"--- {name}\n{(self.tmp_path / name / 'worker.log').read_text()[-3000:]}"
            for name in self.processes
        )


@pytest.fixture
def workers(
    home: Path, tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Workers]:
    """Two ready workers; the launching process (this one) on the same database, its
    steps sent to Celery."""
    monkeypatch.setenv("GAZODUC_DATABASE_URL", postgres_url)
    monkeypatch.setenv("GAZODUC_EXECUTOR", "celery")
    with BROKER_LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        celery_app().control.purge()
        pool = Workers(tmp_path, postgres_url)
        try:
            pool.start("worker-a")
            pool.start("worker-b")
            pool.wait_ready()
            yield pool
        finally:
            pool.stop_all()


def _launch(job: Callable[[], dg.JobDefinition]) -> Callable[[], dg.ExecutionResult | None]:
    """Start a run of `job` on the persistent instance in a thread; its result when done."""
    dagster_home()
    done: list[dg.ExecutionResult] = []

    def run() -> None:
        with dg.DagsterInstance.get() as instance:
            result = dg.execute_job(dg.reconstructable(job), instance)
            done.append(result)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def wait() -> dg.ExecutionResult | None:
        thread.join(RUN_SECONDS)
        return done[0] if done else None

    return wait


def _marks(database: str, stage: str | None = None) -> list[tuple[str, str, int, int]]:
    """(step, stage, pid, worker pid) of the rows the steps wrote, oldest first."""
    with psycopg2.connect(database) as con, con.cursor() as cursor:
        cursor.execute("SELECT to_regclass('step_marks') IS NOT NULL")
        if not cursor.fetchone()[0]:
            return []
        cursor.execute("SELECT step, stage, pid, ppid FROM step_marks ORDER BY at")
        return [row for row in cursor.fetchall() if stage in (None, row[1])]


def test_two_steps_run_on_two_workers(workers: Workers, postgres_url: str) -> None:
    result = _launch(worker_job.two_steps)()

    assert result is not None, f"the run did not end in {RUN_SECONDS:.0f} s: {workers.logs()}"
    assert result.success, workers.logs()
    ran_by = {step: parent for step, _, _, parent in _marks(postgres_url)}
    assert set(ran_by) == {"left", "right"}
    worker_pids = {process.pid for process in workers.processes.values()}
    # Each step in a process of a worker (its prefork child), not here; one on each.
    assert set(ran_by.values()) == worker_pids, workers.logs()
    assert os.getpid() not in {pid for _, _, pid, _ in _marks(postgres_url)}


def test_a_step_whose_worker_is_killed_runs_again_on_the_other(
    workers: Workers, postgres_url: str
) -> None:
    wait = _launch(worker_job.slow_step)
    deadline = time.monotonic() + READY_SECONDS
    while not (started := _marks(postgres_url, "started")) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert started, f"the slow step never started: {workers.logs()}"
    holder = started[0][3]
    workers.kill(holder)

    result = wait()

    assert result is not None, f"the run did not end in {RUN_SECONDS:.0f} s: {workers.logs()}"
    assert result.success, workers.logs()
    finished_by = [parent for _, _, _, parent in _marks(postgres_url, "done")]
    survivor = next(p.pid for p in workers.processes.values() if p.pid != holder)
    assert finished_by == [survivor]
    assert len(_marks(postgres_url, "started")) == 2
