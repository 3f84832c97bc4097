"""What every upstream client shares: OAuth tokens, quota slots, retries, clear errors.

Each API module (adict, ingrid, sfm) builds one `ApiCaller` from its own settings and
describes only its endpoints and record shapes.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, ClassVar, Self, TypeVar

import dagster as dg
import httpx
import tenacity

from resources import settings
from resources.quota import QuotaLedger, QuotaLimits, ledger_at
from resources.quota import clock as quota_clock

log = logging.getLogger(__name__)
T = TypeVar("T")

# Renew a token this long before it expires, so a long stream never starts on a token
# that dies half way.
TOKEN_RENEW_MARGIN_SECONDS = 60
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_AFTER_SECONDS = 120
# A Retry-After beyond this is read as this (two days: past any daily reset).
MAX_RETRY_AFTER_HONOURED = 2 * 86_400.0
# Up to this much is added at random to every wait before a retry.
JITTER_SECONDS = 1.0
JWT_BEARER_ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class UpstreamError(RuntimeError):
    """A call that failed for good: the message says which call and why, never a secret."""


class FatalUpstreamError(UpstreamError):
    """A refusal that condemns every call of the run alike: asking on is pointless."""


class AuthError(FatalUpstreamError):
    """The token endpoint refused our credentials, or answered something we cannot use."""


class RequestNotSent(UpstreamError):
    """A call that could not be built (an invalid id or URL): nothing was sent or spent."""


class RetryableError(UpstreamError):
    """A failure worth another attempt (429, 5xx, a cut connection, a retry-me trailer)."""

    def __init__(
        self, message: str, retry_after: float | None = None, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.retry_after, self.status = retry_after, status


def timeouts(read_seconds: float = 120.0) -> httpx.Timeout:
    # Long reads: GRDF streams three years of a meter in one answer.
    return httpx.Timeout(connect=10.0, read=read_seconds, write=30.0, pool=30.0)


@dataclass
class ClientCredentials:
    """OAuth2 client-credentials flow; the token is cached and renewed before expiry.

    Three ways to prove who we are: the secret in the form body (GRDF ADICT), the secret
    as HTTP Basic (`basic_auth`, GRTgaz Ingrid), or a signed JWT made fresh for each
    token request (`assertion`, GRTgaz SFM's certificate flow) with no secret at all.
    """

    http: httpx.Client
    token_url: str
    client_id: str
    client_secret: str = field(default="", repr=False)
    scope: str | None = None
    basic_auth: bool = False
    assertion: Callable[[], str] | None = field(default=None, repr=False)
    _token: str | None = field(default=None, init=False, repr=False)
    _expires_at: float = field(default=0.0, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def token(self) -> str:
        with self._lock:
            if self._token is None or time.time() >= self._expires_at:
                self._token, lifetime = self._request_token()
                self._expires_at = time.time() + max(0.0, lifetime - self._renew_margin(lifetime))
            return self._token

    def invalidate(self) -> None:
        with self._lock:
            self._token = None

    @staticmethod
    def _renew_margin(lifetime: float) -> float:
        return min(TOKEN_RENEW_MARGIN_SECONDS, lifetime / 10)

    def _request_token(self) -> tuple[str, float]:
        form = {"grant_type": "client_credentials"}
        if self.scope:
            form["scope"] = self.scope
        auth = None
        if self.assertion is not None:
            form |= {
                "client_id": self.client_id,
                "client_assertion_type": JWT_BEARER_ASSERTION,
                "client_assertion": self.assertion(),
            }
        elif self.basic_auth:
            auth = httpx.BasicAuth(self.client_id, self.client_secret)
        else:
            form |= {"client_id": self.client_id, "client_secret": self.client_secret}
        try:
            response = self.http.post(self.token_url, data=form, auth=auth)
        except httpx.TransportError as exc:
            raise AuthError(f"token endpoint {self.token_url} unreachable: {exc!r}") from None
        if response.status_code != 200:
            raise AuthError(
                f"token endpoint {self.token_url} refused client id {self.client_id!r}: "
                f"HTTP {response.status_code} {_short(response.text)}"
            )
        body = response.json()
        if "access_token" not in body:
            raise AuthError(f"token endpoint {self.token_url} answered without access_token")
        log.info("new token for client %s, valid %ss", self.client_id, body.get("expires_in"))
        return body["access_token"], float(body.get("expires_in", 3600))


@dataclass
class CallStats:
    """Calls this caller sent, retries included: what a materialization reports."""

    sent: int = 0
    retried: int = 0
    rejected_429: int = 0


class ApiCaller:
    """Sends authorized calls through the quota ledger, with retries.

    Every attempt (retries included) first takes a slot from the ledger, so retries can
    never push a client over its per-second or per-day limit.
    """

    def __init__(
        self,
        http: httpx.Client,
        credentials: ClientCredentials,
        ledger: QuotaLedger,
        max_attempts: int = 5,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.http, self.credentials, self.ledger = http, credentials, ledger
        self.max_attempts = max_attempts
        self.headers = dict(headers or {})  # sent on every resource call (not to the token URL)
        self.stats = CallStats()

    def call(
        self,
        method: str,
        url: str,
        read: Callable[[httpx.Response], T],
        *,
        idempotent: bool = True,
        **kwargs: object,
    ) -> T:
        """Send one call and hand the open response to `read`; retry the whole exchange.

        `read` consumes the body (a stream parser, say) and may raise RetryableError;
        a response cut mid-stream raises httpx.TransportError there, which is retried
        too: nothing read from a failed attempt is ever returned. A call that is not
        `idempotent` (a declaration POST) is retried only when the server surely did not
        act on it: refused before reading it (401, 429), or never reached.
        """
        request = self._build(method, url, **kwargs)
        retrying = tenacity.Retrying(
            stop=_StopRetrying(self.max_attempts),
            retry=tenacity.retry_if_exception(
                _worth_retrying if idempotent else _surely_not_received
            ),
            wait=_wait_retry_after,
            before_sleep=self._log_retry,
            reraise=True,
        )
        renewed = [False]  # a 401 renews the token once per call, then it is an AuthError
        try:
            return retrying(self._attempt, request, read, renewed)
        except (httpx.TransportError, RetryableError) as exc:
            raise self._gave_up(request, retrying, exc, idempotent) from exc
        except httpx.HTTPError as exc:  # a body that does not decode, a bad redirect
            raise UpstreamError(f"{method} {request.url.path}: {exc!r}") from exc

    def _gave_up(
        self,
        request: httpx.Request,
        retrying: tenacity.Retrying,
        exc: Exception,
        idempotent: bool,
    ) -> UpstreamError:
        """The final error of a call: what failed, after how many attempts, and for a call
        that is not idempotent whether the server may have acted on it."""
        what = f"{type(exc).__name__}" if isinstance(exc, httpx.TransportError) else str(exc)
        unsure = (
            ""
            if idempotent or _surely_not_received(exc)
            else ("; the server may have acted on it: check before sending it again")
        )
        return UpstreamError(
            f"{request.method} {request.url.path}: {what} "
            f"(gave up after {self._attempts(retrying)}){unsure}"
        )

    def _build(self, method: str, url: str, **kwargs: object) -> httpx.Request:
        """The request, built before any slot is spent on it: an id that makes no URL
        fails here, as that call's failure, at no quota cost."""
        try:
            return self.http.build_request(method, url, headers=self.headers, **kwargs)  # type: ignore[arg-type]
        except (httpx.InvalidURL, httpx.UnsupportedProtocol, UnicodeError) as exc:
            raise RequestNotSent(f"{method} {url!r}: not a valid URL ({exc})") from None

    @staticmethod
    def _attempts(retrying: tenacity.Retrying) -> str:
        made = retrying.statistics.get("attempt_number", 1)
        return f"{made} attempt{'s' if made > 1 else ''}"

    def _attempt(
        self, request: httpx.Request, read: Callable[[httpx.Response], T], renewed: list[bool]
    ) -> T:
        where = f"{request.method} {request.url.path}"
        with self._send(request) as response:
            if response.status_code == 401:
                if renewed[0]:
                    raise AuthError(f"{where}: 401 again with a new token")
                # The token died early (revoked, clock skew): renew once, then retry.
                renewed[0] = True
                self.credentials.invalidate()
                raise RetryableError("401 Unauthorized: token renewed", retry_after=0, status=401)
            if response.status_code in RETRYABLE_STATUSES:
                response.read()
                self._raise_retryable(response)
            return read(response)

    def _raise_retryable(self, response: httpx.Response) -> None:
        retry_after = retry_after_seconds(response)
        if response.status_code == 429:
            self.stats.rejected_429 += 1
            spent_today = retry_after is not None and retry_after > MAX_RETRY_AFTER_SECONDS
            self.ledger.rejected(429, response.text, per_second=not spent_today)
            if spent_today:
                # The server's daily budget is spent (someone else on our client id):
                # retrying would only burn our own slots.
                raise self.ledger.exhausted_by_server(retry_after or 0.0)
        raise RetryableError(
            f"HTTP {response.status_code} {_short(response.text)}",
            retry_after,
            status=response.status_code,
        )

    @contextmanager
    def _send(self, request: httpx.Request) -> Iterator[httpx.Response]:
        # The token first: a slow token endpoint must not eat into the slot's spacing.
        request.headers["Authorization"] = f"Bearer {self.credentials.token()}"
        slot = self.ledger.acquire()
        self.stats.sent += 1
        response = self.http.send(request, stream=True)
        try:
            # An upper bound of grant-to-arrival: the next slot leaves room for it. From
            # this process's clock, as the grant's own may be the database's.
            delay = quota_clock() - slot.local_at
            self.ledger.observed(slot, delay, rejected=response.status_code == 429)
            yield response
        finally:
            response.close()

    def _log_retry(self, state: tenacity.RetryCallState) -> None:
        self.stats.retried += 1
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "retrying (attempt %d/%d) after %s",
            state.attempt_number + 1,
            self.max_attempts,
            exc if isinstance(exc, RetryableError) else type(exc).__name__,
        )


# A call answered by none of its attempts within this budget is given up: a hung upstream
# costs minutes per call, not five full read timeouts.
CALL_BUDGET_SECONDS = 300.0
# A timed-out attempt is tried once more at most: a server that took a whole read timeout
# once is likely to again, and each attempt is counted against our quota.
TIMEOUT_ATTEMPTS = 2
# Statuses a server sends before acting on a request: retrying cannot repeat an action.
NOT_ACTED_ON = frozenset({401, 429})  # not 503: a gateway may send it after forwarding


# A per-second 429 was refused before the server did anything: not a failure of the
# call, a sign of someone else on our client id. Many are tolerated (each widens the
# ledger's spacing), within the call budget.
MAX_RATE_REJECTIONS = 20


class _StopRetrying(tenacity.stop.stop_base):
    """Stop after `attempts` failures, TIMEOUT_ATTEMPTS timeouts, MAX_RATE_REJECTIONS
    per-second refusals, or past the call budget."""

    def __init__(self, attempts: int) -> None:
        self.attempts = attempts
        self.failures = self.timeouts = self.rejections = 0

    def __call__(self, state: tenacity.RetryCallState) -> bool:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RetryableError) and exc.status == 429:
            self.rejections += 1
        else:
            self.failures += 1
            self.timeouts += isinstance(exc, httpx.TimeoutException)
        return (
            self.failures >= self.attempts
            or self.timeouts >= TIMEOUT_ATTEMPTS
            or self.rejections >= MAX_RATE_REJECTIONS
            # No attempt starts past the budget (the wait before it is counted in).
            or (state.seconds_since_start or 0.0) + state.upcoming_sleep >= CALL_BUDGET_SECONDS
        )


def _worth_retrying(exc: BaseException) -> bool:
    return isinstance(exc, RetryableError | httpx.TransportError)


def _surely_not_received(exc: BaseException) -> bool:
    """Failures after which the server cannot have acted on the request."""
    if isinstance(exc, RetryableError):
        return exc.status in NOT_ACTED_ON
    return isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)


def _wait_retry_after(state: tenacity.RetryCallState) -> float:
    """Honour the server's Retry-After, else back off exponentially (1, 2, 4 ... s); either
    way plus a random part, so two processes refused together do not retry together."""
    exc = state.outcome.exception() if state.outcome else None
    if isinstance(exc, RetryableError) and exc.retry_after is not None:
        base = min(exc.retry_after, MAX_RETRY_AFTER_SECONDS)
    else:
        base = float(min(2 ** (state.attempt_number - 1), 30))
    return base + random.uniform(0, JITTER_SECONDS)


def retry_after_seconds(response: httpx.Response, now: float | None = None) -> float | None:
    """Retry-After as seconds, from either form of RFC 9110: delta-seconds or an HTTP date."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:  # "inf", "nan" or years ahead: not a delay anyone meant
        return min(max(0.0, seconds), MAX_RETRY_AFTER_HONOURED) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _short(text: str, limit: int = 300) -> str:
    return " ".join(text.split())[:limit]


class UpstreamResource(dg.ConfigurableResource):
    """What every upstream is configured with: where it is, who we are, how fast we may go.

    Each field stands for the variable `<API>_<FIELD>` (`ADICT_BASE_URL` for `base_url`)
    and is checked against that variable's form (`resources/settings.py`) when a run that
    needs the API starts, and when a client is made: a bad value fails there, before any
    call, with a message naming the variable. A field left None takes its variable, or its
    default, at that moment. Each API's resource adds its own credentials; all take their
    calls from the shared ledger under their own name, so ADICT's budget never pays for
    Ingrid's calls.
    """

    API: ClassVar[str]
    base_url: str
    token_url: str
    client_id: str
    calls_per_second: float | None = None
    calls_per_day: int | None = None
    state_dir: str | None = None  # None: $GAZODUC_HOME/state

    @classmethod
    def variable(cls, field_name: str) -> str:
        return f"{cls.API.upper()}_{field_name.upper()}"

    @classmethod
    def from_environment(cls) -> Self:
        """The resource as a run sees it, for commands outside Dagster: each field whose
        variable has no default is read now (a clear error if unset); the others are left
        to be read, and checked, when a client is made."""
        required = {
            name: settings.setting(cls.variable(name))
            for name in cls.model_fields
            if (spec := settings.BY_NAME.get(cls.variable(name))) and spec.default is None
        }
        return cls(**required)

    def value(self, field_name: str) -> Any:
        """A field's value, or its variable's when the field was left None; checked."""
        return settings.read(self.variable(field_name), getattr(self, field_name))

    def check(self) -> None:
        """Every field that stands for a variable, against that variable's form."""
        for field_name in type(self).model_fields:
            if self.variable(field_name) in settings.BY_NAME:
                self.value(field_name)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self.check()  # Dagster has read the EnvVars by now: the run fails here, clearly

    def limits(self) -> QuotaLimits:
        return QuotaLimits(self.value("calls_per_second"), self.value("calls_per_day"))

    def ledger(self) -> QuotaLedger:
        state = Path(self.state_dir) if self.state_dir else settings.gazoduc_home() / "state"
        where = ledger_at(state, settings.database_url())
        return QuotaLedger(where, self.API, self.client_id, self.limits())
