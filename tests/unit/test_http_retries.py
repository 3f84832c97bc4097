"""The HTTP layer's retries against httpx.MockTransport: what is retried, how long, how often."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
import tenacity

import resources.http
from resources.http import (
    ApiCaller,
    ClientCredentials,
    RequestNotSent,
    RetryableError,
    UpstreamError,
    retry_after_seconds,
)
from resources.quota import QuotaLedger, QuotaLimits

Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The waits the caller asked for between attempts, without waiting them."""
    asked: list[float] = []
    real = resources.http._wait_retry_after

    def record(state: object) -> float:
        asked.append(real(state))  # type: ignore[arg-type]
        return 0.0

    monkeypatch.setattr(resources.http, "_wait_retry_after", record)
    return asked


def caller(tmp_path: Path, handler: Handler) -> tuple[ApiCaller, list[httpx.Request]]:
    """An ApiCaller whose server is `handler`; the list gets every data request sent."""
    sent: list[httpx.Request] = []

    def serve(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            return httpx.Response(200, json={"access_token": "t", "expires_in": 3600})
        sent.append(request)
        return handler(request)

    http = httpx.Client(transport=httpx.MockTransport(serve))
    credentials = ClientCredentials(http, "http://auth/token", "id", "secret")
    ledger = QuotaLedger(tmp_path / "q.sqlite", "adict", "id", QuotaLimits(1000.0, 1000))
    return ApiCaller(http, credentials, ledger), sent


def read_text(response: httpx.Response) -> str:
    response.read()
    if response.status_code >= 400:
        raise UpstreamError(f"HTTP {response.status_code}")
    return response.text


def test_a_date_form_retry_after_is_honoured() -> None:
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=42), usegmt=True)
    response = httpx.Response(429, headers={"Retry-After": later})
    assert retry_after_seconds(response, now=now.timestamp()) == pytest.approx(42)
    assert retry_after_seconds(httpx.Response(429, headers={"Retry-After": "7"})) == 7
    assert retry_after_seconds(httpx.Response(429, headers={"Retry-After": "soon"})) is None


def test_retries_wait_retry_after_plus_a_random_part(tmp_path: Path, waits: list[float]) -> None:
    answers = iter([httpx.Response(429, headers={"Retry-After": "2"})] * 3 + [httpx.Response(200)])
    api, sent = caller(tmp_path, lambda request: next(answers))
    api.call("GET", "http://api/data", read_text)
    assert len(sent) == 4
    assert all(2.0 <= w <= 2.0 + resources.http.JITTER_SECONDS for w in waits)
    assert len(set(waits)) > 1  # two clients refused together do not come back together


def test_a_timeout_is_tried_twice_at_most(tmp_path: Path, waits: list[float]) -> None:
    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("no answer", request=request)

    api, sent = caller(tmp_path, hang)
    with pytest.raises(UpstreamError, match=r"ReadTimeout \(gave up after 2 attempts\)"):
        api.call("GET", "http://api/data", read_text)
    assert len(sent) == resources.http.TIMEOUT_ATTEMPTS


def test_a_post_that_may_have_been_received_is_never_sent_again(
    tmp_path: Path, waits: list[float]
) -> None:
    api, sent = caller(tmp_path, lambda request: httpx.Response(500, text="oops"))
    with pytest.raises(UpstreamError, match="HTTP 500"):
        api.call("POST", "http://api/declare", read_text, idempotent=False, content=b"{}")
    assert len(sent) == 1

    def cut(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadError("connection reset", request=request)

    api, sent = caller(tmp_path, cut)
    with pytest.raises(UpstreamError, match="may have acted on it: check before sending"):
        api.call("POST", "http://api/declare", read_text, idempotent=False, content=b"{}")
    assert len(sent) == 1


def test_a_post_refused_before_it_was_read_is_sent_again(
    tmp_path: Path, waits: list[float]
) -> None:
    answers = iter([httpx.Response(429, headers={"Retry-After": "1"}), httpx.Response(200)])
    api, sent = caller(tmp_path, lambda request: next(answers))
    api.call("POST", "http://api/declare", read_text, idempotent=False, content=b"{}")
    assert len(sent) == 2


def test_an_id_that_makes_no_url_fails_without_spending_a_slot(tmp_path: Path) -> None:
    api, sent = caller(tmp_path, lambda request: httpx.Response(200))
    with pytest.raises(RequestNotSent, match="not a valid URL"):
        api.call("GET", "http://api/pce/12345678901234\n/donnees", read_text)
    assert sent == [] and api.ledger.used_today() == 0


def test_no_attempt_starts_past_the_call_budget() -> None:
    """The stop rule sees the wait to come: an attempt that would start past the budget is
    not made, whatever the attempts left."""
    stop = resources.http._StopRetrying(attempts=5)
    failed = tenacity.Future(attempt_number=1)
    failed.set_exception(RetryableError("HTTP 500", status=500))
    state = SimpleNamespace(outcome=failed, seconds_since_start=200.0, upcoming_sleep=90.0)
    assert not stop(state)  # type: ignore[arg-type]  # 290 s: one more attempt fits
    state.upcoming_sleep = 120.0
    assert stop(state)  # type: ignore[arg-type]  # 320 s: past the 300 s budget
