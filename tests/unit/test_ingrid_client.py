"""The Ingrid client against httpx.MockTransport: auth headers, paging, ranges, errors."""

import base64
from datetime import date
from pathlib import Path

import httpx
import orjson
import pytest

from resources.http import ApiCaller, ClientCredentials, UpstreamError
from resources.ingrid import RESOURCE_HEADERS, ContractForbidden, IngridClient, chunks_of
from resources.ingrid_endpoints import BY_NAME
from resources.quota import QuotaLedger, QuotaLimits
from resources.streams import MalformedStreamError

DAILY = BY_NAME["daily_measures"]


def _client(tmp_path: Path, handler, contract: str = "C1") -> IngridClient:  # type: ignore[no-untyped-def]
    http = httpx.Client(transport=httpx.MockTransport(handler))
    credentials = ClientCredentials(
        http, "http://auth/oauth2/token", "id", "s3cret", basic_auth=True
    )
    ledger = QuotaLedger(tmp_path / "quota.sqlite", "ingrid", "id", QuotaLimits(1000.0, 10_000))
    caller = ApiCaller(http, credentials, ledger, headers=RESOURCE_HEADERS)
    return IngridClient("http://api", contract, caller)


def _page(items: list[dict], number: int, pages: int) -> httpx.Response:
    body = {"items": items, "page": {"number": number, "size": 2, "totalPages": pages}}
    return httpx.Response(200, content=orjson.dumps(body))


def _token(request: httpx.Request) -> httpx.Response | None:
    if request.url.path != "/oauth2/token":
        return None
    expected = "Basic " + base64.b64encode(b"id:s3cret").decode()
    assert request.headers["authorization"] == expected  # seed 000 section 7
    assert b"grant_type=client_credentials" in request.content
    return httpx.Response(
        200, json={"access_token": "t", "token_type": "Bearer", "expires_in": 7200}
    )


def test_every_page_of_a_range_is_read_with_the_section_8_headers(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if (token := _token(request)) is not None:
            return token
        seen.append(request)
        page = int(request.url.params["page"])
        return _page([{"n": 2 * page}, {"n": 2 * page + 1}], page, 3)

    chunk = _client(tmp_path, handler).days(DAILY, date(2026, 1, 1), date(2026, 1, 31))
    assert [r["n"] for r in chunk.records] == [0, 1, 2, 3, 4, 5]
    assert chunk.calls == 3
    assert seen[0].url.path == "/measures/v1/contracts/C1/daily-measures"
    assert seen[0].url.params["startGasDay"] == "2026-01-01"
    assert seen[0].url.params["endGasDay"] == "2026-01-31"
    assert all(r.headers["authorization"] == "Bearer t" for r in seen)
    assert all(r.headers["content-type"] == "application/json" for r in seen)


def test_a_foreign_contract_is_a_clear_error_without_the_secret(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if (token := _token(request)) is not None:
            return token
        return httpx.Response(403, json={"code": "FORBIDDEN", "message": "not your contract"})

    with pytest.raises(ContractForbidden) as error:
        _client(tmp_path, handler, "OTHER").days(DAILY, date(2026, 1, 1), date(2026, 1, 2))
    assert "OTHER" in str(error.value) and "INGRID_CONTRACT_CODE" in str(error.value)
    assert "s3cret" not in str(error.value)


def test_a_missing_resource_points_at_the_endpoint_table(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return _token(request) or httpx.Response(404, json={"code": "NOT_FOUND", "message": "?"})

    with pytest.raises(UpstreamError, match=r"ingrid_endpoints\.py"):
        _client(tmp_path, handler).snapshot(BY_NAME["services"])


def test_a_page_that_is_not_an_ingrid_page_is_refused(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return _token(request) or httpx.Response(200, json={"data": []})

    with pytest.raises(MalformedStreamError, match="not an Ingrid page"):
        _client(tmp_path, handler).snapshot(BY_NAME["services"])


def test_a_range_longer_than_the_api_accepts_is_cut_in_the_fewest_pieces() -> None:
    ranges = chunks_of(DAILY, date(2024, 1, 1), date(2024, 12, 31))
    assert len(ranges) == 12  # 366 days in ranges of 31
    assert ranges[0] == (date(2024, 1, 1), date(2024, 1, 31))
    assert ranges[-1][1] == date(2024, 12, 31)
    assert all((b - a).days + 1 <= DAILY.max_days for a, b in ranges)
    assert all((ranges[i][1] - ranges[i + 1][0]).days == -1 for i in range(len(ranges) - 1))
