"""Where a run's steps execute: in the run's own process (embedded, the default), or on
Celery workers (`gazoduc worker`) when GAZODUC_EXECUTOR=celery.

The choice is read when a run starts, never when the definitions load, like every other
variable (resources/settings.py): the definitions carry one executor, `steps_executor`,
which builds Dagster's in-process executor or dagster-celery's from the environment of the
process that starts the run. Runs launched by `make run` and `gazoduc backfill` go through
`dagster.materialize`, which always runs its steps in its own process.

Celery: the broker is GAZODUC_CELERY_BROKER; results come back over it (`rpc://`): only
the run's own process waits for a step's result, and the events of record are written to
Dagster's storage by the step itself, so a result needs no table of its own and no second
service. A step's message is acknowledged when the step ends (`task_acks_late`): a worker
killed while it holds one (kill -9, a lost machine, an evicted pod) closes its connection,
the broker delivers the message again and another worker runs the step from the start. A
step whose own process dies while its worker lives (out of memory) fails instead of being
redelivered forever (`task_reject_on_worker_lost` off): the run fails, and Dagster's run
retry (dagster.yaml) launches it again, at most twice.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import dagster as dg
from dagster._core.execution.retries import RetryMode
from dagster_celery.executor import CeleryExecutor

from resources.settings import celery_broker, read

if TYPE_CHECKING:
    from celery import Celery

EXECUTOR_VARIABLE = "GAZODUC_EXECUTOR"
EMBEDDED, CELERY = "in_process", "celery"
RESULT_BACKEND = "rpc://"
# Added to dagster-celery's defaults (one prefetched message per process, its queue "dagster").
CELERY_SETTINGS: dict[str, Any] = {
    "task_acks_late": True,
    "task_reject_on_worker_lost": False,
    "worker_prefetch_multiplier": 1,
}


def executor_choice() -> str:
    """GAZODUC_EXECUTOR, `in_process` when unset; anything else is refused, naming it."""
    return read(EXECUTOR_VARIABLE)


def celery_executor(retries: RetryMode) -> CeleryExecutor:
    """dagster-celery's executor on our broker, backend and settings. The workers build
    their Celery app from the same (`run_worker`), or they never see the steps."""
    return CeleryExecutor(
        retries=retries,
        broker=celery_broker(),
        backend=RESULT_BACKEND,
        config_source=CELERY_SETTINGS,
    )


def _requirements(_config: Any) -> list[dg.ExecutorRequirement]:
    # Steps in other processes need a reconstructable job, a persistent instance and
    # outputs stored where every process can read them: Dagster checks them at run start.
    return dg.multiple_process_executor_requirements() if executor_choice() == CELERY else []


@dg.executor(
    name="gazoduc_steps",
    config_schema=dg.in_process_executor.config_schema,
    requirements=_requirements,
)
def steps_executor(init_context: dg.InitExecutorContext) -> dg.Executor:
    """The in-process executor, or dagster-celery's when GAZODUC_EXECUTOR=celery; the same
    config (step retries) for both."""
    if executor_choice() == EMBEDDED:
        return dg.in_process_executor.executor_creation_fn(init_context)
    return celery_executor(RetryMode.from_config(init_context.executor_config["retries"]))


def celery_app() -> Celery:
    """The workers' Celery app: dagster-celery's queue and task on our broker and settings."""
    from dagster_celery.make_app import make_app
    from dagster_celery.tasks import create_task

    app = make_app(celery_executor(RetryMode.DISABLED).app_args())
    create_task(app)
    return app


def run_worker(concurrency: int, name: str | None) -> int:
    """`gazoduc worker`: a Celery worker taking steps from the broker until stopped."""
    # The definitions first: a worker that cannot load them says so now, not at its first
    # step, and its first step does not pay for the import.
    import pipelines.definitions  # noqa: F401

    # A name of its own: two workers on one machine would otherwise both be celery@host.
    hostname = f"{name or f'gazoduc-{os.getpid()}'}@%h"
    celery_app().worker_main(["worker", f"--concurrency={concurrency}", f"--hostname={hostname}"])
    return 0
