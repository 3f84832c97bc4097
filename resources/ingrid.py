"""GRTgaz Ingrid client: a shipper contract's measures, allocations, balancing and more.

Auth is OAuth2 client credentials with HTTP Basic (seed 000 section 7), a token of
7,200 s cached and renewed by `ClientCredentials`; resource calls carry the token and
`Content-Type: application/json` (section 8). Paths, parameters and paging come from the
endpoint table (`resources.ingrid_endpoints`). GRTgaz publishes no quota: the client is
as polite as with ADICT, through its own entry in the shared ledger.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, ClassVar

import httpx
import orjson
from pydantic import Field

from resources.http import (
    ApiCaller,
    ClientCredentials,
    FatalUpstreamError,
    UpstreamError,
    UpstreamResource,
    timeouts,
)
from resources.ingrid_endpoints import (
    END_PARAM,
    ITEMS_FIELD,
    PAGE_FIELD,
    PAGE_PARAM,
    PAGE_SIZE,
    SIZE_PARAM,
    START_PARAM,
    Endpoint,
)
from resources.streams import MalformedStreamError
from warehouse.raw import Answer

log = logging.getLogger(__name__)

API = "ingrid"
RESOURCE_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


class ContractForbidden(FatalUpstreamError):
    """GRTgaz refused the contract code for this client (HTTP 403)."""


@dataclass(frozen=True)
class Chunk:
    """One ranged ask of a resource (all its pages): what the raw zone stores as one answer."""

    first_day: date | None  # None for reference data (no dates asked)
    last_day: date | None
    records: list[dict[str, Any]]
    calls: int  # pages fetched


def chunks_of(endpoint: Endpoint, first: date, last: date) -> list[tuple[date, date]]:
    """[first, last] cut into the fewest ranges the API accepts (`max_days` each)."""
    ranges, start = [], first
    while start <= last:
        end = min(last, start + timedelta(days=endpoint.max_days - 1))
        ranges.append((start, end))
        start = end + timedelta(days=1)
    return ranges


class IngridClient:
    def __init__(self, base_url: str, contract_code: str, caller: ApiCaller) -> None:
        self.base_url = base_url.rstrip("/")
        self.contract_code = contract_code
        self.caller = caller

    def snapshot(self, endpoint: Endpoint) -> Chunk:
        """All records of a reference resource (links, services, capacities, programs)."""
        records, calls = self._all_pages(endpoint, {})
        return Chunk(None, None, records, calls)

    def days(self, endpoint: Endpoint, first: date, last: date) -> Chunk:
        """Every record of gas days [first, last]: one range the API accepts, all pages."""
        if (last - first).days + 1 > endpoint.max_days:
            raise ValueError(f"{endpoint.name}: {first}..{last} exceeds {endpoint.max_days} days")
        params = {START_PARAM: first.isoformat(), END_PARAM: last.isoformat()}
        records, calls = self._all_pages(endpoint, params)
        return Chunk(first, last, records, calls)

    def _all_pages(
        self, endpoint: Endpoint, params: dict[str, str]
    ) -> tuple[list[dict[str, Any]], int]:
        url = self.base_url + endpoint.path(self.contract_code)
        records: list[dict[str, Any]] = []
        page, pages = 0, 1
        while page < pages:
            query = params | {PAGE_PARAM: str(page), SIZE_PARAM: str(PAGE_SIZE)}
            items, pages = self.caller.call("GET", url, self._read_page, params=query)
            records.extend(items)
            page += 1
        return records, page

    def _read_page(self, response: httpx.Response) -> tuple[list[dict[str, Any]], int]:
        response.read()
        self._raise_for_status(response)
        where = f"GET {response.url.path}"
        try:
            body = orjson.loads(response.content)
            items, total_pages = body[ITEMS_FIELD], int(body[PAGE_FIELD]["totalPages"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise MalformedStreamError(f"{where}: not an Ingrid page ({exc!r})") from None
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise MalformedStreamError(f"{where}: `{ITEMS_FIELD}` is not a list of records")
        return items, total_pages

    def _raise_for_status(self, response: httpx.Response) -> None:
        if response.status_code < 400:
            return
        where = f"GET {response.url.path}?{response.url.query.decode()}"
        detail = _error_message(response)
        if response.status_code == 403:
            raise ContractForbidden(
                f"Ingrid refused contract {self.contract_code!r} to client "
                f"{self.caller.credentials.client_id!r} (HTTP 403: {detail}): check "
                "INGRID_CONTRACT_CODE and the access GRTgaz granted to this client"
            )
        if response.status_code == 404:
            detail += " (is the endpoint table resources/ingrid_endpoints.py up to date?)"
        raise UpstreamError(f"{where}: HTTP {response.status_code}: {detail}")


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return " ".join(response.text.split())[:300]
    if isinstance(body, dict) and "message" in body:
        return f"{body.get('code', '')} {body['message']}".strip()
    return str(body)[:300]


def dump_records(records: list[dict[str, Any]]) -> bytes:
    """A chunk as the raw zone stores it: one JSON array (reparsed with `load_records`)."""
    return orjson.dumps(records)


def load_records(body: bytes) -> list[dict[str, Any]]:
    return orjson.loads(body)


def read_records(_: Answer, body: bytes) -> list[dict[str, Any]]:
    """A stored answer's records, as the warehouse builds them."""
    return load_records(body)


class IngridResource(UpstreamResource):
    """GRTgaz Ingrid, configured by INGRID_* variables (see README)."""

    API: ClassVar[str] = API
    client_secret: str = Field(repr=False)
    contract_code: str

    @contextmanager
    def client(self) -> Iterator[IngridClient]:
        self.check()
        with httpx.Client(timeout=timeouts(), follow_redirects=False) as http:
            credentials = ClientCredentials(
                http, self.token_url, self.client_id, self.client_secret, basic_auth=True
            )
            caller = ApiCaller(http, credentials, self.ledger(), headers=RESOURCE_HEADERS)
            yield IngridClient(self.base_url, self.contract_code, caller)
