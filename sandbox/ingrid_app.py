"""GRTgaz Ingrid sandbox: every resource of the endpoint table over HTTP, with OAuth and quotas.

Routes come from `resources.ingrid_endpoints` (`Endpoint.path`), so the resource server's
base URL is the app root and the client, the sandbox and the warehouse share one table.
Each resource call goes through, in order: token (401), contract granted to the client
(403), quota (429, not counted in the daily budget), faults (latency, 500), parameters
(400), then one page of records. Every call is logged; `/_sandbox/*` routes need no token.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import re
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from resources.ingrid_endpoints import (
    END_PARAM,
    ENDPOINTS,
    ITEMS_FIELD,
    PAGE_FIELD,
    PAGE_PARAM,
    PAGE_SIZE,
    SIZE_PARAM,
    START_PARAM,
    Endpoint,
)
from sandbox.adict_app import JSON, control_calls, control_faults, control_reset
from sandbox.clock import PARIS, SandboxClock
from sandbox.faults import Faults
from sandbox.ingrid_data import DEFAULT_CONTRACT, DEFAULT_SEED, IngridData, as_instant
from sandbox.oauth import TokenIssuer
from sandbox.quota import CallRecord, ServerQuota

log = logging.getLogger(__name__)

DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET = "gazoduc-sandbox", "sandbox-secret"
ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")  # date.fromisoformat alone also takes 20260101


@dataclass
class IngridSandboxConfig:
    seed: int = DEFAULT_SEED
    clients: dict[str, str] = field(
        default_factory=lambda: {DEFAULT_CLIENT_ID: DEFAULT_CLIENT_SECRET}
    )
    # Contract codes each client may read (seed 000 section 3: access is per contract).
    contracts: dict[str, tuple[str, ...]] = field(
        default_factory=lambda: {DEFAULT_CLIENT_ID: (DEFAULT_CONTRACT,)}
    )
    token_ttl_seconds: int = 7200  # seed 000 section 7: "expires_in": 7200
    # No published quota (API-NOTES): as polite as ADICT, the client's defaults.
    calls_per_second: float = 1.0
    calls_per_day: int = 10_000
    page_size_cap: int = PAGE_SIZE
    now: datetime | None = None  # None: the real time; a naive datetime is Paris time


class IngridClock(SandboxClock):
    """Paris date *and time*: a gas day closes at 06:00 on the next day, not at midnight."""

    def __init__(self, now: datetime | None = None) -> None:
        super().__init__()
        self._now = as_instant(now) if now else None
        self._now_lock = threading.Lock()

    def now(self) -> datetime:
        with self._now_lock:
            fixed = self._now
        return fixed or datetime.now(PARIS)

    def today(self) -> date:
        return self.now().astimezone(PARIS).date()

    def set(self, today: date | None) -> None:
        """Freeze at noon on `today` (yesterday's gas day closed), or unfreeze with None."""
        self.set_now(as_instant(today) if today else None)

    def set_now(self, now: datetime | None) -> None:
        with self._now_lock:
            self._now = as_instant(now) if now else None


@dataclass
class IngridSandbox:
    """Everything the app serves from; `app.state.sandbox`."""

    config: IngridSandboxConfig
    clock: IngridClock
    data: IngridData
    tokens: TokenIssuer
    quota: ServerQuota
    faults: Faults = field(default_factory=Faults)

    @classmethod
    def from_config(cls, config: IngridSandboxConfig) -> IngridSandbox:
        clock = IngridClock(config.now)
        return cls(
            config=config,
            clock=clock,
            data=IngridData(config.seed),
            tokens=TokenIssuer(config.clients, config.token_ttl_seconds),
            quota=ServerQuota(config.calls_per_second, config.calls_per_day, clock),
        )

    def granted(self, client_id: str, contract_code: str) -> bool:
        return contract_code in self.config.contracts.get(client_id, ())

    def reset(self) -> None:
        """Forget calls and quota counters (configuration, clock and faults stay)."""
        self.quota.reset()


# --- errors ---------------------------------------------------------------------------------


class ErrorCode(StrEnum):
    """Assumed: GRTgaz's error bodies are unpublished; `{code, message}` like ADICT's."""

    UNAUTHORIZED = "UNAUTHORIZED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    TOO_MANY_REQUESTS = "TOO_MANY_REQUESTS"
    INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"
    MISSING_PARAMETER = "MISSING_PARAMETER"
    INVALID_DATE = "INVALID_DATE"
    INVALID_RANGE = "INVALID_RANGE"
    RANGE_TOO_LONG = "RANGE_TOO_LONG"
    INVALID_PAGING = "INVALID_PAGING"


def error(status: int, code: ErrorCode, message: str, **headers: str) -> JSON:
    return JSON({"code": code.value, "message": message}, status_code=status, headers=headers)


class BadRequest(Exception):
    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


# --- parameters -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PageAsk:
    number: int
    size: int


def parse_gas_days(query: Mapping[str, str], endpoint: Endpoint) -> tuple[date, date] | None:
    """The inclusive gas-day range of a dated resource (None for snapshots)."""
    if not endpoint.dated:
        return None
    first, last = _gas_day(query, START_PARAM), _gas_day(query, END_PARAM)
    if first > last:
        raise BadRequest(ErrorCode.INVALID_RANGE, f"{START_PARAM} {first} is after {last}")
    if (last - first).days + 1 > endpoint.max_days:
        message = f"{first}..{last} spans more than {endpoint.max_days} gas days"
        raise BadRequest(ErrorCode.RANGE_TOO_LONG, message)
    return first, last


def _gas_day(query: Mapping[str, str], name: str) -> date:
    text = query.get(name)
    if not text:
        raise BadRequest(ErrorCode.MISSING_PARAMETER, f"{name} is required (YYYY-MM-DD)")
    try:
        if not ISO_DAY.fullmatch(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        message = f"{name}={text!r} is not a YYYY-MM-DD date"
        raise BadRequest(ErrorCode.INVALID_DATE, message) from None


def parse_page(query: Mapping[str, str], size_cap: int) -> PageAsk:
    number = _whole(query, PAGE_PARAM, default=0)
    size = _whole(query, SIZE_PARAM, default=min(PAGE_SIZE, size_cap))
    if number < 0 or not 1 <= size <= size_cap:
        message = f"{PAGE_PARAM} must be >= 0 and {SIZE_PARAM} between 1 and {size_cap}"
        raise BadRequest(ErrorCode.INVALID_PAGING, message)
    return PageAsk(number, size)


def _whole(query: Mapping[str, str], name: str, default: int) -> int:
    text = query.get(name)
    if text is None:
        return default
    try:
        return int(text)
    except ValueError:
        raise BadRequest(ErrorCode.INVALID_PAGING, f"{name}={text!r} is not an integer") from None


def page_body(contract_code: str, records: list[dict[str, Any]], ask: PageAsk) -> dict[str, Any]:
    """The table's paging shape: 0-based `page` object, then the page's `items`."""
    first = ask.number * ask.size
    return {
        "contractCode": contract_code,
        PAGE_FIELD: {
            "number": ask.number,
            "size": ask.size,
            "totalElements": len(records),
            "totalPages": math.ceil(len(records) / ask.size),
        },
        ITEMS_FIELD: records[first : first + ask.size],
    }


# --- routes -------------------------------------------------------------------------------


def client_of(tokens: TokenIssuer, authorization: str | None) -> str | None:
    """Seed 000 section 8 shows the bare token in `Authorization`; `Bearer <t>` works too."""
    header = (authorization or "").strip()
    if header and " " not in header:
        header = f"Bearer {header}"
    return tokens.authenticate(header)


async def token_endpoint(request: Request) -> Response:
    """`POST /oauth2/token`, HTTP Basic credentials; the answer of seed 000 section 7."""
    tokens: TokenIssuer = request.app.state.sandbox.tokens
    form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
    status, body = tokens.issue(form, request.headers.get("authorization"))
    body.pop("scope", None)  # section 7's answer has none ("Scope: non utilisé")
    return JSON(body, status_code=status, headers={"Cache-Control": "no-store"})


def resource_route(endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
    async def serve(request: Request) -> Response:
        sandbox: IngridSandbox = request.app.state.sandbox
        arrival = time.time()
        client_id = client_of(sandbox.tokens, request.headers.get("authorization"))
        contract_code = request.path_params["contract_code"]
        response = await _refusal(sandbox, client_id, contract_code)
        if response is None:
            response = _answer(sandbox, endpoint, contract_code, request.query_params)
        sandbox.quota.log_call(
            CallRecord(
                client_id=client_id,
                method=request.method,
                path=request.url.path,
                query=dict(request.query_params),
                time=arrival,
                status=response.status_code,
            )
        )
        return response

    return serve


async def _refusal(
    sandbox: IngridSandbox, client_id: str | None, contract_code: str
) -> Response | None:
    if client_id is None:
        message = "access token missing, invalid or expired"
        return error(401, ErrorCode.UNAUTHORIZED, message, **{"WWW-Authenticate": "Bearer"})
    if not sandbox.granted(client_id, contract_code):
        message = f"contract {contract_code} is not granted to client {client_id}"
        return error(403, ErrorCode.FORBIDDEN, message)
    if rejection := sandbox.quota.try_acquire(client_id):
        log.info("quota: %s refused, retry in %ss", client_id, rejection.retry_after)
        retry = {"Retry-After": str(rejection.retry_after)}
        return error(429, ErrorCode.TOO_MANY_REQUESTS, rejection.message, **retry)
    if sandbox.faults.latency_ms:
        await asyncio.sleep(sandbox.faults.latency_ms / 1000)
    if sandbox.faults.take("fail_next"):
        return error(500, ErrorCode.INTERNAL_SERVER_ERROR, "sandbox fault: try again later")
    return None


def _answer(
    sandbox: IngridSandbox, endpoint: Endpoint, contract_code: str, query: Mapping[str, str]
) -> Response:
    try:
        days = parse_gas_days(query, endpoint)
        ask = parse_page(query, sandbox.config.page_size_cap)
    except BadRequest as bad:
        return error(400, bad.code, bad.message)
    first, last = days or (None, None)
    now = sandbox.clock.now()
    records = sandbox.data.records(endpoint.name, contract_code, first, last, now)
    return JSON(page_body(contract_code, records, ask))


# --- control routes -------------------------------------------------------------------------


async def control_clock(request: Request) -> Response:
    """GET reads the clock; POST `{"now": "2026-11-22T06:00:00+01:00"}`, `{"today":
    "2026-11-22"}` (noon, Paris) or `{}` (back to the real time) sets it."""
    clock: IngridClock = request.app.state.sandbox.clock
    if request.method == "POST":
        try:
            _set_clock(clock, orjson.loads(await request.body()))
        except (ValueError, AttributeError, TypeError) as exc:
            return JSON({"error": str(exc)}, status_code=400)
    return JSON({"now": clock.now().isoformat(), "today": clock.today().isoformat()})


def _set_clock(clock: IngridClock, body: dict[str, Any]) -> None:
    if body.get("now"):
        clock.set_now(datetime.fromisoformat(body["now"]))
    else:
        clock.set(date.fromisoformat(body["today"]) if body.get("today") else None)


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own errors (unknown path, wrong method) as `{code, message}` bodies."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    code, what = {
        404: (ErrorCode.NOT_FOUND, "no such resource"),
        405: (ErrorCode.METHOD_NOT_ALLOWED, "method not allowed"),
    }.get(status, (ErrorCode.INTERNAL_SERVER_ERROR, "server error"))
    return error(status, code, f"{request.method} {request.url.path}: {what}")


def build_ingrid_app(config: IngridSandboxConfig | None = None) -> Starlette:
    sandbox = IngridSandbox.from_config(config or IngridSandboxConfig())
    routes = [
        Route("/oauth2/token", token_endpoint, methods=["POST"]),
        *(
            Route(endpoint.path("{contract_code}"), resource_route(endpoint), methods=["GET"])
            for endpoint in ENDPOINTS
        ),
        Route("/_sandbox/calls", control_calls, methods=["GET"]),
        Route("/_sandbox/faults", control_faults, methods=["GET", "POST"]),
        Route("/_sandbox/clock", control_clock, methods=["GET", "POST"]),
        Route("/_sandbox/reset", control_reset, methods=["POST"]),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error})
    app.state.sandbox = sandbox
    return app


# --- command line (wired into `python -m sandbox ingrid` by sandbox/__main__.py) -------------


def add_cli_arguments(parser: argparse.ArgumentParser) -> None:
    """The `ingrid` subcommand's options, defaults from `IngridSandboxConfig`."""
    defaults = IngridSandboxConfig()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766, help="0 picks a free port")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--calls-per-second", type=float, default=defaults.calls_per_second)
    parser.add_argument("--calls-per-day", type=int, default=defaults.calls_per_day)
    parser.add_argument("--token-ttl", type=int, default=defaults.token_ttl_seconds)
    parser.add_argument("--page-size-cap", type=int, default=defaults.page_size_cap)
    parser.add_argument("--client-id", default=DEFAULT_CLIENT_ID)
    parser.add_argument("--client-secret", default=DEFAULT_CLIENT_SECRET)
    parser.add_argument(
        "--contract", action="append", help=f"repeat for several; default {DEFAULT_CONTRACT}"
    )
    parser.add_argument("--now", type=datetime.fromisoformat, help="freeze the clock (Paris)")


def config_from_cli(args: argparse.Namespace) -> IngridSandboxConfig:
    return IngridSandboxConfig(
        seed=args.seed,
        clients={args.client_id: args.client_secret},
        contracts={args.client_id: tuple(args.contract or (DEFAULT_CONTRACT,))},
        token_ttl_seconds=args.token_ttl,
        calls_per_second=args.calls_per_second,
        calls_per_day=args.calls_per_day,
        page_size_cap=args.page_size_cap,
        now=args.now,
    )
