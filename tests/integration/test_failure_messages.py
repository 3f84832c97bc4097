"""Failures tell the truth: what was asked, answered, failed, left, and what a re-run does.

Each source's asset against its sandbox, with the fault that stops it; the message and
the metadata are read from the run's events, as an operator reads them in the UI.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import pytest

import resources.http
from assets.adict import access_rights, informative_consumption
from assets.fetching import MAX_CONSECUTIVE_FAILURES
from assets.ingrid import INGRID_ASSETS
from assets.sfm import rebuilt_hms_profiles
from pipelines.partitions import PARIS, paris_today
from resources.quota import QuotaLedger, QuotaLimits, ledger_path
from resources.warehouse import WarehouseResource
from tests.conftest import Upstream
from tests.warehouse_reader import query as read


def failure(result: dg.ExecuteInProcessResult) -> tuple[str, dict[str, Any]]:
    """The step failure's message and metadata."""
    event = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    data = event.event_specific_data.user_failure_data  # type: ignore[union-attr]
    metadata = {k: getattr(v, "value", v) for k, v in data.metadata.items()}
    return data.description, metadata


def logged(instance: dg.DagsterInstance, result: dg.ExecuteInProcessResult) -> list[str]:
    """Every line the run logged (context.log included), as the UI shows them."""
    return [e.user_message for e in instance.all_logs(result.run_id)]


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries without their waits: the failure paths, not the clock, are under test."""
    monkeypatch.setattr(resources.http, "_wait_retry_after", lambda state: 0.0)


def spend_budget(state_dir: Path, api: str, client_id: str, calls_per_day: int) -> None:
    ledger = QuotaLedger(ledger_path(state_dir), api, client_id, QuotaLimits(1000.0, calls_per_day))
    for _ in range(calls_per_day):
        ledger.acquire()


def test_an_upstream_down_gives_up_after_three_failures_saying_how_many_calls_are_left(
    adict_upstream: Callable[..., Upstream], no_backoff: None
) -> None:
    upstream = adict_upstream(portfolio_size=12)
    dg.materialize([access_rights], resources=upstream.resources())
    httpx.post(f"{upstream.server.base_url}/_sandbox/faults", json={"fail_next": 1000})
    today = paris_today()
    result = upstream.materialize_range(
        informative_consumption, today - timedelta(days=60), today - timedelta(days=2),
        raise_on_error=False,
    )  # fmt: skip
    message, metadata = failure(result)
    planned = metadata["asks_planned"]
    assert planned > MAX_CONSECUTIVE_FAILURES
    assert re.search(
        rf"gave up after 3 failures in a row \(the upstream looks down; last: .*HTTP 500.*\)\. "
        rf"Asked 3 of {planned}: 0 answered, 3 failed; {planned - 3} left for later; what was "
        rf"answered is landed, and a re-run asks only for the {planned} missing",
        message,
    ), message
    assert (metadata["asks_failed"], metadata["asks_left"]) == (3, planned - 3)
    # Each failed PCE was tried 5 times (500s are retried), and no other PCE was asked.
    assert len({c.path for c in upstream.calls("informatives")}) == 3


def test_a_spent_ingrid_budget_on_a_snapshot_says_so_and_logs_it(
    ingrid_upstream: Callable[..., Any], home: Path
) -> None:
    upstream = ingrid_upstream()
    resource = upstream.resource(calls_per_day=2)
    spend_budget(home / "state", "ingrid", resource.client_id, 2)
    services = next(a for a in INGRID_ASSETS if a.key.path[-1] == "services")
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [services],
        resources={"ingrid": resource, "warehouse": upstream.resources()["warehouse"]},
        instance=instance,
        raise_on_error=False,
    )
    message, metadata = failure(result)
    assert re.match(
        r"ingrid: 2 of 2 calls used today; resumes after \d{4}-\d\d-\d\d 00:00 Europe/Paris\. "
        r"Asked 0 of 1: 0 answered, 0 failed; 1 left for later; what was answered is landed, "
        r"and a run after the reset asks only for the 1 missing",
        message,
    ), message
    assert metadata["asks_left"] == 1
    assert any(
        "services: ingrid: 2 of 2 calls used today" in line for line in logged(instance, result)
    )
    assert upstream.calls() == []


def test_a_spent_sfm_budget_is_not_retried_by_the_run(
    sfm_upstream: Callable[..., Any], home: Path
) -> None:
    day = date(2026, 11, 18)
    upstream = sfm_upstream(now=datetime(2026, 11, 19, 5, 50, tzinfo=PARIS))
    resource = upstream.resource(calls_per_day=3)
    spend_budget(home / "state", "sfm", resource.client_id, 2)  # one call left: the indicators
    job = dg.Definitions(
        assets=[rebuilt_hms_profiles],
        jobs=[
            dg.define_asset_job(
                "programs", [rebuilt_hms_profiles], op_retry_policy=dg.RetryPolicy(max_retries=2)
            )
        ],
        resources={"sfm": resource, "warehouse": upstream.resources()["warehouse"]},
    ).resolve_job_def("programs")
    result = job.execute_in_process(partition_key=day.isoformat(), raise_on_error=False)
    message, _ = failure(result)
    assert message.startswith("sfm: 3 of 3 calls used today; resumes after ")
    assert "Asked 0 of" in message and "left for later" in message
    assert [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"] == []
    ledger = QuotaLedger(ledger_path(home / "state"), "sfm", resource.client_id, QuotaLimits(1, 3))
    assert ledger.used_today() == 3  # the indicators took the last call; nothing after


def test_a_rebuilt_program_answered_404_keeps_the_rows_landed_before(
    sfm_upstream: Callable[..., Any], home: Path
) -> None:
    day = date(2026, 11, 18)
    upstream = sfm_upstream(now=datetime(2026, 11, 18, 12, 0, tzinfo=PARIS))
    resources = upstream.resources()
    assert dg.materialize([rebuilt_hms_profiles], resources=resources, partition_key=str(day))
    query = "SELECT count(*), sum(quantity) FROM sfm.rebuilt_hms_profiles"
    (before,) = read(home, query)
    assert before[0] > 0

    # A later answer for every site-day is a 404 (what the client stores as `no_data`):
    # an error upstream, not a rebuilt program that vanished.
    raw = WarehouseResource(home=str(home)).raw_zone()
    for answer in raw.answers("sfm", "rebuilt_hms_profiles"):
        raw.put("sfm", answer.dataset, answer.scope, day, day, b"null", "no_data", 0)
    assert dg.materialize([rebuilt_hms_profiles], resources=resources, partition_key=str(day))
    assert read(home, query) == [before]
