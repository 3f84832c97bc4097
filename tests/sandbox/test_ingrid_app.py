"""The GRTgaz Ingrid sandbox: auth, contracts, validation, paging, quotas, and its data rules."""

from __future__ import annotations

import argparse
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import httpx
import pytest

from resources.ingrid_endpoints import BY_NAME, ENDPOINTS, Endpoint
from sandbox.clock import PARIS
from sandbox.ingrid_app import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    IngridSandbox,
    IngridSandboxConfig,
    add_cli_arguments,
    build_ingrid_app,
    config_from_cli,
)
from sandbox.ingrid_data import (
    BY_CODE,
    DEFAULT_CONTRACT,
    DEFINITIVE,
    POINTS,
    PROVISIONAL,
    TOLERANCE_SHARE,
    expected_records,
    gas_day_hours,
)
from sandbox.server import SandboxServer

NOW = datetime(2026, 11, 22, 12, tzinfo=PARIS)
OTHER_CLIENT, OTHER_CONTRACT = "other-shipper", "GRT-SHP-0002"
SPRING_DST_GAS_DAY = date(2026, 3, 28)  # clocks jump at 02:00 on the 29th, inside this day
AUTUMN_DST_GAS_DAY = date(2026, 10, 24)  # clocks go back at 03:00 on the 25th
WINTER_MONTHS = [
    (date(2025, 12, 1), date(2025, 12, 31)),
    (date(2026, 1, 1), date(2026, 1, 31)),
    (date(2026, 2, 1), date(2026, 2, 28)),
]
Records = list[dict[str, Any]]


class Served:
    """A running Ingrid sandbox and an httpx client holding a token."""

    def __init__(self, server: SandboxServer, sandbox: IngridSandbox) -> None:
        self.server, self.sandbox = server, sandbox
        self.http = httpx.Client(base_url=server.base_url, timeout=10)
        self.token = self.fetch_token()

    def fetch_token(self, secret: str = DEFAULT_CLIENT_SECRET) -> str:
        response = self.http.post(
            "/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(DEFAULT_CLIENT_ID, secret),
        )
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    def get(
        self,
        name: str,
        first: date | None = None,
        last: date | None = None,
        contract: str = DEFAULT_CONTRACT,
        authorization: str | None = None,
        **params: Any,
    ) -> httpx.Response:
        if first and last:
            params |= {"startGasDay": first.isoformat(), "endGasDay": last.isoformat()}
        headers = {
            "Authorization": authorization or f"Bearer {self.token}",
            "Content-Type": "application/json",
        }
        return self.http.get(BY_NAME[name].path(contract), params=params, headers=headers)

    def items(self, name: str, first: date | None = None, last: date | None = None) -> Records:
        response = self.get(name, first, last)
        assert response.status_code == 200, response.text
        return response.json()["items"]

    def set_clock(self, now: datetime) -> None:
        response = self.http.post("/_sandbox/clock", json={"now": now.isoformat()})
        assert response.status_code == 200, response.text


def serve(**overrides: Any) -> Iterator[Served]:
    defaults = {
        "now": NOW,
        "calls_per_second": 1000.0,
        "clients": {DEFAULT_CLIENT_ID: DEFAULT_CLIENT_SECRET, OTHER_CLIENT: "other-secret"},
        "contracts": {DEFAULT_CLIENT_ID: (DEFAULT_CONTRACT,), OTHER_CLIENT: (OTHER_CONTRACT,)},
    }
    app = build_ingrid_app(IngridSandboxConfig(**(defaults | overrides)))
    with SandboxServer(app) as server:
        served = Served(server, app.state.sandbox)
        yield served
        served.http.close()


@pytest.fixture(scope="module")
def ingrid() -> Iterator[Served]:
    """Shared by the tests that change nothing: no per-second limit in the way."""
    yield from serve()


@pytest.fixture
def fresh() -> Iterator[Served]:
    """A sandbox of its own, for tests that move the clock or set faults."""
    yield from serve()


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


# --- HTTP: auth, contracts, validation, paging ------------------------------------------


def test_token_takes_http_basic_and_answers_as_seed_000(ingrid: Served) -> None:
    response = ingrid.http.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
    )
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert (body["token_type"], body["expires_in"]) == ("Bearer", 7200)
    refused = ingrid.http.post(
        "/oauth2/token", data={"grant_type": "client_credentials"}, auth=(DEFAULT_CLIENT_ID, "x")
    )
    assert (refused.status_code, refused.json()) == (401, {"error": "invalid_client"})


def test_resources_need_a_token_bare_or_bearer(ingrid: Served) -> None:
    path = BY_NAME["services"].path(DEFAULT_CONTRACT)
    missing = ingrid.http.get(path)
    assert missing.status_code == 401 and missing.json()["code"] == "UNAUTHORIZED"
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    assert ingrid.get("services", authorization="Bearer not-a-token").status_code == 401
    assert ingrid.get("services", authorization=ingrid.token).status_code == 200  # seed 000 §8
    assert ingrid.get("services").status_code == 200


def test_revoked_tokens_are_refused(fresh: Served) -> None:
    assert fresh.sandbox.tokens.issued == 1
    fresh.sandbox.tokens.revoke_all()
    assert fresh.get("services").status_code == 401


def test_a_contract_of_another_client_is_forbidden(ingrid: Served) -> None:
    response = ingrid.get("services", contract=OTHER_CONTRACT)
    assert response.status_code == 403
    assert response.json() == {
        "code": "FORBIDDEN",
        "message": f"contract {OTHER_CONTRACT} is not granted to client {DEFAULT_CLIENT_ID}",
    }


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({}, "MISSING_PARAMETER"),
        ({"startGasDay": "2026-11-01"}, "MISSING_PARAMETER"),
        ({"startGasDay": "2026-11-1", "endGasDay": "2026-11-02"}, "INVALID_DATE"),
        ({"startGasDay": "20261101", "endGasDay": "2026-11-02"}, "INVALID_DATE"),
        ({"startGasDay": "2026-02-30", "endGasDay": "2026-03-02"}, "INVALID_DATE"),
        ({"startGasDay": "2026-11-02", "endGasDay": "2026-11-01"}, "INVALID_RANGE"),
        ({"startGasDay": "2026-10-01", "endGasDay": "2026-11-01"}, "RANGE_TOO_LONG"),
        (
            {"startGasDay": "2026-10-01", "endGasDay": "2026-10-02", "size": "1001"},
            "INVALID_PAGING",
        ),
        ({"startGasDay": "2026-10-01", "endGasDay": "2026-10-02", "size": "0"}, "INVALID_PAGING"),
        ({"startGasDay": "2026-10-01", "endGasDay": "2026-10-02", "page": "-1"}, "INVALID_PAGING"),
        ({"startGasDay": "2026-10-01", "endGasDay": "2026-10-02", "page": "one"}, "INVALID_PAGING"),
    ],
)
def test_bad_requests(ingrid: Served, params: dict[str, str], code: str) -> None:
    response = ingrid.get("daily_measures", **params)
    assert response.status_code == 400
    assert response.json()["code"] == code and response.json()["message"]


def test_the_longest_range_is_accepted_and_snapshots_need_no_dates(ingrid: Served) -> None:
    max_days = BY_NAME["daily_measures"].max_days
    first = date(2026, 10, 1)
    assert ingrid.get("daily_measures", first, first + timedelta(max_days - 1)).status_code == 200
    assert ingrid.get("supply_links").status_code == 200


def test_unknown_resource_is_404_with_a_code(ingrid: Served) -> None:
    response = ingrid.http.get(f"/measures/v1/contracts/{DEFAULT_CONTRACT}/weekly-measures")
    assert response.status_code == 404 and response.json()["code"] == "NOT_FOUND"


def test_pages_cover_every_record_exactly_once_in_key_order(ingrid: Served) -> None:
    first, last = date(2026, 10, 1), date(2026, 10, 31)
    served, number, total_pages = [], 0, 1
    while number < total_pages:
        body = ingrid.get("hourly_measures", first, last, page=number, size=250).json()
        assert body["page"]["number"] == number and body["contractCode"] == DEFAULT_CONTRACT
        total_pages = body["page"]["totalPages"]
        served += body["items"]
        number += 1
    expected = expected_records("hourly_measures", first, last, NOW)
    assert served == expected
    assert body["page"] == {"number": 17, "size": 250, "totalElements": 4470, "totalPages": 18}
    assert len(expected) == 31 * 24 * len(POINTS) + len(POINTS)  # one 25-hour day
    past_the_end = ingrid.get("hourly_measures", first, last, page=18, size=250).json()
    assert past_the_end["items"] == [] and past_the_end["page"]["totalElements"] == 4470


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
def test_every_resource_serves_the_truth_with_the_table_fields(
    ingrid: Served, endpoint: Endpoint
) -> None:
    first, last = (date(2026, 1, 1), date(2026, 1, 31)) if endpoint.dated else (None, None)
    body = ingrid.get(endpoint.name, first, last).json()
    expected = expected_records(endpoint.name, first, last, NOW)
    assert body["items"] and body["items"] == expected[:1000]
    assert body["page"]["totalElements"] == len(expected)
    names = [field.name for field in endpoint.fields]
    assert all(list(item) == names for item in expected)
    keys = [tuple(item[k] for k in endpoint.key) for item in expected]
    assert len(set(keys)) == len(keys)


# --- HTTP: clock, quotas, faults ------------------------------------------------------------


def test_gas_days_appear_once_closed_at_six_in_paris(fresh: Served) -> None:
    first, last = date(2026, 11, 15), date(2026, 11, 30)
    fresh.set_clock(datetime(2026, 11, 22, 5, 59, tzinfo=PARIS))
    assert max(r["gasDay"] for r in fresh.items("daily_measures", first, last)) == "2026-11-20"
    fresh.set_clock(datetime(2026, 11, 22, 6, 0, tzinfo=PARIS))
    assert max(r["gasDay"] for r in fresh.items("daily_measures", first, last)) == "2026-11-21"
    assert fresh.items("daily_measures", date(2026, 12, 1), date(2026, 12, 2)) == []


def test_allocations_settle_when_the_month_after_next_starts(fresh: Served) -> None:
    october = (date(2026, 10, 1), date(2026, 10, 31))
    provisional = fresh.items("daily_allocations", *october)
    assert {r["status"] for r in provisional} == {PROVISIONAL}
    assert {
        r["status"] for r in fresh.items("daily_allocations", date(2026, 9, 1), date(2026, 9, 30))
    } == {DEFINITIVE}
    fresh.set_clock(datetime(2026, 12, 1, 8, tzinfo=PARIS))
    definitive = fresh.items("daily_allocations", *october)
    assert {r["status"] for r in definitive} == {DEFINITIVE}
    changed = [a for a, b in zip(provisional, definitive, strict=True) if a != b]
    assert len(changed) == len(provisional)  # every value restated, keys unchanged
    assert [(r["gasDay"], r["pointCode"]) for r in provisional] == [
        (r["gasDay"], r["pointCode"]) for r in definitive
    ]


def test_clock_control_takes_a_date_as_noon(fresh: Served) -> None:
    response = fresh.http.post("/_sandbox/clock", json={"today": "2026-03-29"})
    assert response.json() == {"now": "2026-03-29T12:00:00+02:00", "today": "2026-03-29"}
    assert fresh.http.post("/_sandbox/clock", json={"today": "soon"}).status_code == 400


def test_daily_quota_answers_429_with_retry_after() -> None:
    for served in serve(calls_per_day=2):
        assert [served.get("services").status_code for _ in range(2)] == [200, 200]
        refused = served.get("services")
        assert refused.status_code == 429 and refused.json()["code"] == "TOO_MANY_REQUESTS"
        assert int(refused.headers["Retry-After"]) >= 1


def test_per_second_quota_answers_429() -> None:
    for served in serve(calls_per_second=1.0):
        statuses = [served.get("services").status_code for _ in range(2)]
        assert statuses == [200, 429]


def test_faults_and_call_log(fresh: Served) -> None:
    assert fresh.http.post("/_sandbox/faults", json={"fail_next": 1}).status_code == 200
    failed = fresh.get("services")
    assert failed.status_code == 500 and failed.json()["code"] == "INTERNAL_SERVER_ERROR"
    assert fresh.get("services").status_code == 200
    calls = fresh.http.get("/_sandbox/calls").json()
    assert [c["status"] for c in calls] == [500, 200]
    assert calls[0]["client_id"] == DEFAULT_CLIENT_ID
    fresh.http.post("/_sandbox/reset")
    assert fresh.http.get("/_sandbox/calls").json() == []


# --- data rules -----------------------------------------------------------------------------


def by_point_day(records: Records, field: str) -> dict[tuple[str, str], float]:
    totals: dict[tuple[str, str], float] = defaultdict(float)
    for r in records:
        totals[(r["pointCode"], r["gasDay"])] += r[field]
    return dict(totals)


@pytest.mark.parametrize(
    ("daily", "hourly", "field"),
    [
        ("daily_measures", "hourly_measures", "quantity"),
        ("daily_allocations", "hourly_allocations", "allocatedQuantity"),
    ],
)
def test_daily_is_the_sum_of_hourly(daily: str, hourly: str, field: str) -> None:
    for as_of in (NOW, datetime(2027, 3, 1, tzinfo=PARIS)):  # provisional, then definitive
        first, last = date(2026, 10, 10), date(2026, 11, 9)
        hours = by_point_day(expected_records(hourly, first, last, as_of), field)
        assert by_point_day(expected_records(daily, first, last, as_of), field) == hours


def test_hourly_series_have_23_and_25_rows_on_dst_gas_days(ingrid: Served) -> None:
    spring = ingrid.items("hourly_measures", SPRING_DST_GAS_DAY, SPRING_DST_GAS_DAY)
    autumn = ingrid.items("balancing_hourly_allocations", AUTUMN_DST_GAS_DAY, AUTUMN_DST_GAS_DAY)
    assert set(Counter(r["pointCode"] for r in spring).values()) == {23}
    assert len(autumn) == 25
    lyon = [r for r in spring if r["pointCode"] == "PITD-LYON-EST"]
    assert lyon[0]["startDateTime"] == "2026-03-28T06:00:00+01:00"
    assert lyon[-1]["endDateTime"] == "2026-03-29T06:00:00+02:00"
    twice = [r["startDateTime"] for r in autumn if "T02:00:00" in r["startDateTime"]]
    assert twice == ["2026-10-25T02:00:00+02:00", "2026-10-25T02:00:00+01:00"]
    assert [len(gas_day_hours(d)) for d in (date(2026, 3, 29), date(2026, 10, 25))] == [24, 24]


def test_allocations_stay_within_two_percent_of_measures() -> None:
    first, last = date(2026, 9, 20), date(2026, 10, 20)  # definitive, then provisional
    measures = expected_records("hourly_measures", first, last, NOW)
    allocations = expected_records("hourly_allocations", first, last, NOW)
    for measure, allocation in zip(measures, allocations, strict=True):
        assert measure["startDateTime"] == allocation["startDateTime"]
        assert (
            abs(allocation["allocatedQuantity"] - measure["quantity"]) <= 0.02 * measure["quantity"]
        )


def test_zone_hourly_allocations_are_the_sums_over_points() -> None:
    first, last = AUTUMN_DST_GAS_DAY, AUTUMN_DST_GAS_DAY + timedelta(days=1)
    zone = expected_records("balancing_hourly_allocations", first, last, NOW)
    sums: dict[str, float] = defaultdict(float)
    for r in expected_records("hourly_allocations", first, last, NOW):
        sums[r["startDateTime"]] += r["allocatedQuantity"]
    assert {r["startDateTime"]: r["allocatedQuantity"] for r in zone} == sums


def test_imbalance_is_allocations_minus_forecasts() -> None:
    first, last = date(2026, 9, 15), date(2026, 10, 14)
    allocated = day_totals(
        expected_records("daily_allocations", first, last, NOW), "allocatedQuantity"
    )
    forecast = day_totals(
        expected_records("daily_contractual_forecasts", first, last, NOW), "forecastQuantity"
    )
    imbalances = expected_records("daily_imbalances", first, last, NOW)
    assert len(imbalances) == len(days(first, last))
    for row in imbalances:
        day = row["gasDay"]
        assert row["balancingZone"] == "TRF"
        assert (row["allocatedQuantity"], row["forecastQuantity"]) == (
            allocated[day],
            forecast[day],
        )
        assert row["imbalanceQuantity"] == allocated[day] - forecast[day]
        assert row["toleranceQuantity"] == round(forecast[day] * TOLERANCE_SHARE)
    assert {r["status"] for r in imbalances} == {DEFINITIVE, PROVISIONAL}


def day_totals(records: Records, field: str) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    for r in records:
        totals[r["gasDay"]] += r[field]
    return totals


@pytest.mark.parametrize(
    ("exceeding", "allocations", "capacity_field"),
    [
        ("daily_exceeding", "daily_allocations", "dailyCapacity"),
        ("hourly_exceeding", "hourly_allocations", "hourlyCapacity"),
    ],
)
def test_exceedings_exist_exactly_above_capacity(
    exceeding: str, allocations: str, capacity_field: str
) -> None:
    snapshot = expected_records("downstream_allocated_capacities", None, None, NOW)
    capacity = {c["pointCode"]: c[capacity_field] for c in snapshot}
    key = BY_NAME[exceeding].key
    for first, last in WINTER_MONTHS:  # cold days exceed
        above = {
            tuple(r[k] for k in key): (capacity[r["pointCode"]], r["allocatedQuantity"])
            for r in expected_records(allocations, first, last, NOW)
            if r["pointCode"] in capacity and r["allocatedQuantity"] > capacity[r["pointCode"]]
        }
        served = expected_records(exceeding, first, last, NOW)
        assert above, f"no {exceeding} from {first} to {last}"
        assert {
            tuple(r[k] for k in key): (r["capacity"], r["allocatedQuantity"]) for r in served
        } == above
        assert all(r["exceedingQuantity"] == r["allocatedQuantity"] - r["capacity"] for r in served)


def test_reference_data_names_the_measured_points() -> None:
    def points(name: str) -> set[str]:
        first_day = date(2026, 11, 1) if BY_NAME[name].dated else None
        return {r["pointCode"] for r in expected_records(name, first_day, first_day, NOW)}

    measured = points("daily_measures")
    assert points("supply_links") == measured == {p.code for p in POINTS}
    delivery = {p.code for p in POINTS if p.delivery}
    assert points("downstream_allocated_capacities") == delivery
    for name in (
        "pce_connection_links",
        "upstream_allocated_capacities",
        "standardized_capacity_subscriptions",
        "consolidated_maintenance_programs",
    ):
        assert points(name) <= measured, name


def test_confirmations_are_forecasts_cut_to_operational_capacity() -> None:
    first, last = date(2026, 1, 1), date(2026, 1, 31)
    forecasts = {
        (r["gasDay"], r["pointCode"]): r["forecastQuantity"]
        for r in expected_records("daily_contractual_forecasts", first, last, NOW)
    }
    notices = {
        (r["gasDay"], r["pointCode"]): r["operationalCapacity"]
        for r in expected_records("operational_notices", first, last, NOW)
    }
    assert notices and all(not BY_CODE[point].delivery for _, point in notices)
    for r in expected_records("confirmation_notice", first, last, NOW):
        key = (r["gasDay"], r["pointCode"])
        assert r["nominatedQuantity"] == forecasts[key]
        assert r["confirmedQuantity"] == min(forecasts[key], notices.get(key, forecasts[key]))


def test_other_resources_are_plausible_and_repeatable() -> None:
    first, last = date(2026, 1, 1), date(2026, 1, 31)
    prices = expected_records("common_indicators", first, last, NOW)
    assert all(
        r["marginalSellPrice"] < r["weightedAveragePrice"] < r["marginalBuyPrice"] for r in prices
    )
    assert all(10 < r["weightedAveragePrice"] < 80 and r["priceUnit"] == "EUR/MWh" for r in prices)
    intraday = expected_records("intraday_distributed_quantities", first, last, NOW)
    assert set(Counter(r["gasDay"] for r in intraday).values()) == {5}
    assert expected_records("common_indicators", first, last, NOW) == prices
    other = expected_records("daily_measures", first, last, NOW, contract_code=OTHER_CONTRACT)
    assert other != expected_records("daily_measures", first, last, NOW)


def test_command_line_options_make_a_config() -> None:
    parser = argparse.ArgumentParser()
    add_cli_arguments(parser)
    args = parser.parse_args(["--contract", "A", "--contract", "B", "--now", "2026-11-22T07:00"])
    config = config_from_cli(args)
    assert config.contracts == {DEFAULT_CLIENT_ID: ("A", "B")}
    assert config.now == datetime(2026, 11, 22, 7) and config.token_ttl_seconds == 7200
    assert config_from_cli(parser.parse_args([])).contracts[DEFAULT_CLIENT_ID] == (
        DEFAULT_CONTRACT,
    )
