"""Runs whose process died: marked failed, their pool slots freed, so the next one starts.

A run holds a concurrency slot of its source's pool (`adict`, `ingrid`, `sfm`) while a
step runs. A process killed outright (kill -9, a power cut, an out-of-memory kill) never
releases it, and Dagster's default run launcher cannot check a run worker's health: the
run stays STARTED and every later run of that pool waits forever. Here a run counts as
dead when the process that started it (the pid of its RUN_START event) is gone from this
machine; it is then reported failed, as Dagster's run monitoring would, and Dagster frees
the slots of finished runs. `gazoduc backfill` does this before it starts, and a sensor
does it every 30 seconds wherever the daemon runs (`dagster dev`, production).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import dagster as dg
from dagster import DagsterEventType, DagsterRunStatus, RunsFilter

# Set on runs started by `gazoduc backfill`: only that machine can judge their process.
HOST_TAG = "gazoduc/host"
UNFINISHED = [DagsterRunStatus.STARTING, DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]
FINISHED = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}
# A process that started this long after its run cannot be the run's (a reused pid).
PID_REUSE_SLACK_SECONDS = 5.0


def reap_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Fail the unfinished runs whose process is gone, free the slots of finished runs;
    one line per action, for the log."""
    lines = []
    for record in instance.get_run_records(RunsFilter(statuses=UNFINISHED)):
        run = record.dagster_run
        pid = _local_pid(instance, run)
        if pid is None or _running(pid, record.start_time):
            continue
        # Its process is gone, so whatever it wrote is written: it may have finished
        # between the listing and now, and a finished run is never failed after the fact.
        run = instance.get_run_by_id(run.run_id)
        if run is None or run.status not in UNFINISHED:
            continue
        instance.report_run_failed(
            run,
            f"the process of this run (pid {pid}) is gone: killed or crashed. Marked failed "
            "so its pool slots are freed; a re-run asks only for what was not stored",
        )
        lines.append(f"run {run.run_id} ({run.job_name}): process {pid} gone, marked failed")
    lines += _free_slots_of_finished_runs(instance)
    return lines


def _free_slots_of_finished_runs(instance: dg.DagsterInstance) -> list[str]:
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    lines = []
    for run_id in storage.get_concurrency_run_ids():
        run = instance.get_run_by_id(run_id)
        if run is None or run.status in FINISHED:
            storage.free_concurrency_slots_for_run(run_id)
            lines.append(f"run {run_id}: ended; the pool slots it still held are freed")
    return lines


def _local_pid(instance: dg.DagsterInstance, run: dg.DagsterRun) -> int | None:
    """The pid of the process that started `run`, if this machine can judge it: a run
    tagged with this host, or any run of an instance on local SQLite (one machine)."""
    host = run.tags.get(HOST_TAG)
    if host is not None and host != socket.gethostname():
        return None
    if host is None and not type(instance.run_storage).__name__.startswith("Sqlite"):
        return None  # shared storage: the run may live on another machine
    starts = instance.all_logs(run.run_id, of_type=DagsterEventType.RUN_START)
    event = starts[0].dagster_event if starts else None
    return event.pid if event is not None else None


def _running(pid: int, run_started: float | None) -> bool:
    """Whether `pid` is a live process that may be the run's (not a zombie, not a newer
    process that reused the pid)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    if not Path("/proc/self/stat").exists():  # not Linux: trust the signal
        return True
    try:
        fields = stat.read_text().rsplit(")", 1)[1].split()
    except OSError:  # it ended between the signal and the read
        return False
    if fields[0] == "Z":
        return False
    started = _boot_time() + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    return run_started is None or started <= run_started + PID_REUSE_SLACK_SECONDS


def _boot_time() -> float:
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    return 0.0


@dg.sensor(
    name="free_slots_of_dead_runs",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Marks failed the runs whose process died and frees their pool slots.",
)
def free_slots_of_dead_runs(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    lines = reap_dead_runs(context.instance)
    for line in lines:
        context.log.warning(line)
    return dg.SkipReason("; ".join(lines) or "no dead run")


def backfill(asset: str, first: str | None, last: str | None) -> int:
    """`gazoduc backfill`: reap dead runs, then materialize `asset` over the partition range
    [first, last] as one run in the persistent instance (what the UI launches), with a
    progress bar on the terminal and Dagster's full log in a file."""
    from pipelines.launch import Step, dagster_home, land_logged

    dagster_home()
    for line in reap_dead_runs(dg.DagsterInstance.get()):
        print(line)
    tags = {HOST_TAG: socket.gethostname()}
    if first or last:
        tags |= {
            "dagster/asset_partition_range_start": first or last or "",
            "dagster/asset_partition_range_end": last or first or "",
        }
    span = f" {first or last}..{last or first}" if first or last else ""
    step = Step(f"{asset}{span}", asset.partition("/")[0], (asset,), {"tags": tags})
    return 1 if land_logged([step], "backfill") else 0
