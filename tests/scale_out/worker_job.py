"""A small job for the worker tests, importable by `gazoduc worker` processes: two
independent steps that each write who ran them into the shared PostgreSQL database, and a
slow one that says when it starts, so a test can kill the worker holding it."""

from __future__ import annotations

import os
import socket
import time

import dagster as dg
import psycopg2

from pipelines.workers import steps_executor
from resources.settings import database_url

SLOW_STEP_SECONDS = 8.0


def _mark(step: str, stage: str) -> None:
    """A row: this step, this stage, the process (and its parent: the worker) running it."""
    with psycopg2.connect(database_url()) as con, con.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS step_marks (step text, stage text, pid int, ppid int,"
            " host text, at timestamptz DEFAULT now())"
        )
        cursor.execute(
            "INSERT INTO step_marks (step, stage, pid, ppid, host) VALUES (%s, %s, %s, %s, %s)",
            (step, stage, os.getpid(), os.getppid(), socket.gethostname()),
        )


@dg.asset
def left() -> None:
    _mark("left", "done")
    time.sleep(1.0)  # long enough for the other step to reach the other worker


@dg.asset
def right() -> None:
    _mark("right", "done")
    time.sleep(1.0)


@dg.asset
def slow() -> None:
    _mark("slow", "started")
    time.sleep(SLOW_STEP_SECONDS)
    _mark("slow", "done")


defs = dg.Definitions(
    assets=[left, right, slow],
    jobs=[
        dg.define_asset_job("two_steps", selection=[left, right]),
        dg.define_asset_job("slow_step", selection=[slow]),
    ],
    executor=steps_executor,
)


def two_steps() -> dg.JobDefinition:
    return defs.resolve_job_def("two_steps")


def slow_step() -> dg.JobDefinition:
    return defs.resolve_job_def("slow_step")
