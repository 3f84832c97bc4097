"""Runs launched from the command line (`make run`, `gazoduc backfill`): one line each on
the terminal, Dagster's whole log in a file.

Each run is what `dagster asset materialize` would launch, in the persistent instance
under `$GAZODUC_HOME/dagster`; a progress bar is redrawn in place on a terminal, and only
the finished lines are printed elsewhere (a pipe, CI, a test).
"""

from __future__ import annotations

import io
import logging
import os
import re
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import dagster as dg
import yaml

from pipelines.progress import Progress, watching
from resources.settings import api_ledger, database_url, gazoduc_home
from warehouse.raw import private_dir

REPO_ROOT = Path(__file__).resolve().parent.parent
# Dagster's whole story, DEBUG events included, for the log file (see logging_to).
FULL_LOG = {"loggers": {"console": {"config": {"log_level": "DEBUG"}}}}
ANSI_COLOUR = re.compile(r"\x1b\[[0-9;]*m")
POSTGRES_STORAGE = {"postgres": {"postgres_url": {"env": "GAZODUC_DATABASE_URL"}}}
INSTANCE_HEADER = (
    "# Written by gazoduc from the project's dagster.yaml (edit that one), its storage\n"
    "# chosen by GAZODUC_DATABASE_URL: set, PostgreSQL; unset, SQLite under DAGSTER_HOME.\n"
)
# The first lines of the files dagster_home() may replace: its own, or an older plain copy
# of the project's.
OURS = (INSTANCE_HEADER, "# Only what differs from Dagster's defaults.")


def dagster_home() -> Path:
    """A persistent Dagster instance under GAZODUC_HOME: runs launched here show up in
    `make dev`. Its dagster.yaml is the project's, written again each time with the storage
    GAZODUC_DATABASE_URL chooses, so the CLI, `gazoduc dev`'s webserver and daemon, and
    their runs all open the same one. A dagster.yaml of another origin (the Helm chart's,
    one written by hand) is left as it is."""
    home = Path(os.environ.get("DAGSTER_HOME") or gazoduc_home() / "dagster")
    home.mkdir(parents=True, exist_ok=True)
    instance_yaml = home / "dagster.yaml"
    current = instance_yaml.read_text() if instance_yaml.exists() else None
    wanted = instance_settings(database_url() is not None)
    if current is None or (current != wanted and current.startswith(OURS)):
        instance_yaml.write_text(wanted)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def instance_settings(on_postgres: bool) -> str:
    """The project's dagster.yaml, its storage on PostgreSQL when `on_postgres`: runs, event
    log and schedules in the shared database. The file names the variable, never its value:
    the URL may hold a password, and Dagster reads it when the instance opens."""
    settings = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text())
    if on_postgres:
        settings["storage"] = POSTGRES_STORAGE
    return INSTANCE_HEADER + yaml.safe_dump(settings, sort_keys=False)


def land(steps: list[Step]) -> list[Step]:
    """Run each step on the persistent instance, a line each on the board; the failed."""
    dagster_home()
    instance, board = dg.DagsterInstance.get(), Board(sys.stdout)
    with watching(board.show):
        return [step for step in steps if not _materialize(step, instance, board)]


def land_logged(steps: list[Step], name: str) -> list[Step]:
    """`land`, with Dagster's full log in a file of its own (`gazoduc backfill`)."""
    path = new_log_path(name)
    with path.open("a", buffering=1) as log_file, logging_to(log_file):
        print(f"Dagster's full log: {path}")
        return land(steps)


def new_log_path(name: str) -> Path:
    logs = gazoduc_home() / "logs"
    private_dir(logs)  # Dagster's debug events name PCEs and sites: the operator's only
    return logs / f"{name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}.log"


@contextmanager
def logging_to(log_file: TextIO) -> Iterator[None]:
    """Everything but our own lines goes to the log file: Python logging, warnings, and
    Dagster's console logger, which looks up `sys.stderr` at each record."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    handler = logging.StreamHandler(log_file)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.handlers, root.level = [handler], logging.INFO
    try:
        with redirect_stderr(_WithoutColours(log_file)):
            yield
    finally:
        root.handlers, root.level = handlers, level


class _WithoutColours(io.TextIOBase):
    """Dagster colours its console log when stdout is a terminal: the file gets plain text."""

    def __init__(self, file: TextIO) -> None:
        self.file = file

    def write(self, text: str) -> int:
        self.file.write(ANSI_COLOUR.sub("", text))
        return len(text)

    def flush(self) -> None:
        self.file.flush()


class Board:
    """One line per step on the terminal. On a TTY the running step's bar is redrawn in
    place (`\\r`); elsewhere (a pipe, CI, a test) only the finished lines are printed."""

    def __init__(self, out: TextIO) -> None:
        self.out, self.tty, self.title = out, out.isatty(), ""

    def start(self, title: str) -> None:
        self.title = title
        self._redraw(f"  {title} ...")

    def show(self, progress: Progress) -> None:
        # The numbers first: a narrow terminal cuts the end of the line.
        self._redraw(f"  {progress.bar()}  {self.title}")

    def finish(self, ok: bool, detail: str) -> None:
        self._redraw("")
        print(f"{'✓' if ok else '✗'} {self.title}: {detail}", file=self.out, flush=True)

    def _redraw(self, text: str) -> None:
        if self.tty:  # one terminal row, or the carriage return cannot rub it out
            width = shutil.get_terminal_size().columns - 1
            self.out.write(f"\r\x1b[K{text[:width]}")
            self.out.flush()


@dataclass(frozen=True)
class Step:
    title: str
    api: str | None  # whose calls it spends (None: it spends none)
    assets: tuple[str, ...]  # asset keys, "adict/access_rights"
    partitions: dict[str, Any] = field(default_factory=dict)  # dg.materialize's arguments


def _materialize(step: Step, instance: dg.DagsterInstance, board: Board) -> bool:
    """One run, as `dagster asset materialize` would launch it; its line on the board."""
    from pipelines.definitions import defs

    ledger = api_ledger(step.api) if step.api else None
    used, started = ledger.used_today() if ledger else 0, time.monotonic()
    board.start(step.title)
    result = dg.materialize(
        [defs.get_assets_def(dg.AssetKey.from_user_string(key)) for key in step.assets],
        resources=defs.resources,
        instance=instance,
        run_config=FULL_LOG,
        raise_on_error=False,
        **step.partitions,
    )
    calls = ledger.used_today() - used if ledger else 0
    detail = [f"{calls:,} call{'s' if calls != 1 else ''} in {time.monotonic() - started:.0f} s"]
    if not result.success:
        detail.append(_failure(result))
    detail.extend(_problems_logged(instance, result.run_id))
    board.finish(result.success, "; ".join(detail))
    return result.success


def _problems_logged(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """How many warnings and errors the run logged: the terminal's hint to read the file."""
    levels = [entry.level for entry in instance.all_logs(run_id)]
    counts = (
        (sum(logging.WARNING <= level < logging.ERROR for level in levels), "warning"),
        (sum(level >= logging.ERROR for level in levels), "error"),
    )
    return [f"{n} {what}{'s' if n > 1 else ''} in the log" for n, what in counts if n]


def _failure(result: dg.ExecuteInProcessResult) -> str:
    """The first error of a failed run, on one line (the log file has the whole story)."""
    for event in result.all_events:
        error = getattr(event.event_specific_data, "error", None)
        if error is not None:
            return " ".join(error.message.split())[:200]
    return "failed, see the log"
