"""Several processes share one client id through the ledger: the server never rejects."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from typing import Any

import pytest

from pipelines.partitions import paris_today
from resources.adict import AdictResource
from tests.conftest import Upstream

CALLS_PER_PROCESS = 6


def _worker(settings: dict[str, Any], id_pce: str) -> None:
    with AdictResource(**settings).client() as client:
        for _ in range(CALLS_PER_PROCESS):
            client.document("technical_data", id_pce, paris_today())


@pytest.mark.parametrize("limit", [1.0, 2.0], ids=["contract_rate", "two_per_second"])
def test_three_processes_sharing_a_client_get_no_429_at_nearly_the_limit(
    adict_upstream: Callable[..., Upstream], limit: float
) -> None:
    upstream = adict_upstream(calls_per_second=limit)
    settings = upstream.resource().model_dump()
    id_pce = upstream.sandbox.portfolio.pces[0].id_pce
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_worker, args=(settings, id_pce)) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    calls = upstream.calls()
    assert len(calls) == 3 * CALLS_PER_PROCESS
    assert [c.status for c in calls if c.status != 200] == []
    times = sorted(c.time for c in calls)
    rate = (len(times) - 1) / (times[-1] - times[0])
    assert 0.95 * limit <= rate <= limit  # the limit, used nearly fully
