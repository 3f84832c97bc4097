"""The SFM sandbox over real HTTP: auth, errors, and a replayed day checked against the rules."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import date, datetime, timedelta
from typing import Any

import httpx
import pytest

from pipelines.sfm_rules import (
    PARIS,
    SLOTS,
    FeasibilityStatus,
    HmsProfile,
    InputHmsProfile,
    Publication,
    Site,
    SiteIndicators,
    error_json,
    indicators_at,
    process_declaration,
    rebuild,
    rebuilt_profile,
)
from sandbox.oauth import TokenIssuer
from sandbox.server import SandboxServer
from sandbox.sfm_app import BASE_PATH, TOKEN_PATH, build_sfm_app
from sandbox.sfm_data import SfmSandbox, SfmSandboxConfig

DAY = date(2026, 11, 18)
START = datetime(2026, 11, 17, 14, 0, tzinfo=PARIS)  # D-1, before the preloaded programs
CLIENT_ID, CLIENT_SECRET = "gazoduc-sfm", "sfm-secret"
GAS_DAY = {"gasDayDate": DAY.isoformat()}
# Moments of a replayed day: D-1 (automatic acceptance), the night the checks begin,
# §3.2.2's 10h17, §3.2.3's 12h05, §7's 14h08 and 14h35, and the night's last hours.
REPLAY = [
    datetime(2026, 11, 17, 16, 0),
    *(datetime(2026, 11, 18, h, m) for h, m in [(0, 30), (1, 5), (6, 40), (9, 10), (10, 17)]),
    *(datetime(2026, 11, 18, h, m) for h, m in [(12, 5), (14, 8), (14, 35), (18, 50), (23, 20)]),
    datetime(2026, 11, 19, 3, 5),
    datetime(2026, 11, 19, 5, 50),
]


class SfmServed:
    """A running SFM sandbox and an httpx client holding a token."""

    def __init__(self, server: SandboxServer, sandbox: SfmSandbox) -> None:
        self.server, self.sandbox = server, sandbox
        self.http = httpx.Client(base_url=server.base_url, timeout=10)
        form = {"grant_type": "client_credentials", "client_id": CLIENT_ID}
        response = self.http.post(TOKEN_PATH, data=form | {"client_secret": CLIENT_SECRET})
        assert response.status_code == 200, response.text
        self.auth = {"Authorization": f"Bearer {response.json()['access_token']}"}

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(BASE_PATH + path, headers=self.auth, **kwargs)

    def post(self, path: str, body: Any) -> httpx.Response:
        return self.http.post(BASE_PATH + path, headers=self.auth, json=body)

    def set_clock(self, moment: datetime) -> None:
        response = self.http.post("/_sandbox/clock", json={"now": moment.isoformat()})
        assert response.status_code == 200, response.text


def serve(**overrides: Any) -> Iterator[SfmServed]:
    config = SfmSandboxConfig(**({"now": START} | overrides))
    app = build_sfm_app(config, TokenIssuer({CLIENT_ID: CLIENT_SECRET}, ttl_seconds=3600))
    with SandboxServer(app) as server:
        served = SfmServed(server, app.state.sandbox)
        yield served
        served.http.close()


@pytest.fixture
def sfm() -> Iterator[SfmServed]:
    yield from serve()


def a_site(sfm: SfmServed, index: int = 0) -> Site:
    return list(sfm.sandbox.sites.values())[index]


def program_body(site: Site, version: int, quantities: Sequence[float], sent: datetime) -> dict:
    profile = InputHmsProfile.build(site, DAY, version, quantities, sent)
    return {"hmsProfiles": [profile.to_json()]}


# --- auth and errors ---------------------------------------------------------------------------


def test_resources_need_a_token(sfm: SfmServed) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}):
        response = sfm.http.get(f"{BASE_PATH}/sites/flexibilityIndicators", headers=headers)
        assert response.status_code == 401
        assert response.json()["code"] == 401
    assert sfm.get("/sites/flexibilityIndicators").status_code == 200


def test_client_outside_the_allowed_ones_is_forbidden() -> None:
    for served in serve(authorized_clients=frozenset({"someone-else"})):
        response = served.get("/sites/flexibilityIndicators")
        assert (response.status_code, response.json()["code"]) == (403, 403)


def test_unknown_site_and_profile_are_404_bad_parameters_400(sfm: SfmServed) -> None:
    site = a_site(sfm)
    assert sfm.get("/sites/LI0000/flexibilityIndicators").status_code == 404
    assert sfm.get("/sites/LI0000/hmsProfiles", params=GAS_DAY).status_code == 404
    assert sfm.get("/hmsProfiles/20261118-LI0000-X-1").json()["code"] == 404
    assert sfm.get(f"/sites/{site.site_id}/hmsProfiles").status_code == 400
    bad_day = {"gasDayDate": "18/11/2026"}
    assert sfm.get(f"/sites/{site.site_id}/rebuiltHmsProfile", params=bad_day).status_code == 400
    assert sfm.get("/sites/XX12/flexibilityIndicators").status_code == 400
    far = {"gasDayDate": "2030-01-01"}
    assert sfm.get(f"/sites/{site.site_id}/rebuiltHmsProfile", params=far).status_code == 404


def test_fault_answers_500_with_an_error_object(sfm: SfmServed) -> None:
    assert sfm.http.post("/_sandbox/faults", json={"fail_next": 1}).status_code == 200
    response = sfm.get("/sites/flexibilityIndicators")
    assert (response.status_code, response.json()["code"]) == (500, 500)
    assert sfm.get("/sites/flexibilityIndicators").status_code == 200


def test_clock_control_sets_and_releases_the_instant(sfm: SfmServed) -> None:
    sfm.set_clock(datetime(2026, 11, 18, 10, 17))
    assert sfm.http.get("/_sandbox/clock").json() == {"now": "2026-11-18T10:17:00+01:00"}
    assert sfm.sandbox.clock.now() == datetime(2026, 11, 18, 10, 17, tzinfo=PARIS)
    assert sfm.http.post("/_sandbox/clock", json={"now": None}).status_code == 200
    assert abs(sfm.sandbox.clock.now() - datetime.now(PARIS)) < timedelta(minutes=1)
    assert sfm.http.post("/_sandbox/clock", json={"now": "tomorrow"}).status_code == 400


# --- declarations ------------------------------------------------------------------------------


def test_one_bad_program_rejects_the_whole_declaration(sfm: SfmServed) -> None:
    first, second = a_site(sfm, 0), a_site(sfm, 1)
    good = program_body(first, 2, [first.q_max * 0.6] * SLOTS, START)
    bad = program_body(second, 2, [second.q_max * 3] * SLOTS, START)
    response = sfm.post("/hmsProfiles", {"hmsProfiles": good["hmsProfiles"] + bad["hmsProfiles"]})
    assert response.status_code == 400
    bad_id = bad["hmsProfiles"][0]["hmsProfileId"]
    assert response.json()["code"] == 400
    assert response.json()["message"].startswith(f"{bad_id} : Pour les heures 6h-7h, 7h-8h")
    good_id = good["hmsProfiles"][0]["hmsProfileId"]
    assert sfm.get(f"/hmsProfiles/{good_id}").status_code == 404
    assert sfm.post("/hmsProfiles", good).status_code == 201  # the same, alone, goes in


def test_declaration_answers_links_and_rejects_a_reused_id(sfm: SfmServed) -> None:
    site = a_site(sfm)
    body = program_body(site, 2, [site.q_max * 0.6] * SLOTS, START)
    response = sfm.post("/hmsProfiles", body)
    profile_id = body["hmsProfiles"][0]["hmsProfileId"]
    assert response.status_code == 201
    assert response.json() == {
        "links": [
            {
                "rel": profile_id,
                "href": f"{sfm.server.base_url}{BASE_PATH}/hmsProfiles/{profile_id}",
            }
        ]
    }
    again = sfm.post("/hmsProfiles", body)
    assert again.json() == {
        "code": 400,
        "message": f"{profile_id} : L'id de ce programme existe déjà",
    }
    assert (
        sfm.http.post(BASE_PATH + "/hmsProfiles", headers=sfm.auth, content=b"{").status_code == 400
    )


def test_a_replayed_day_matches_the_rules_module(sfm: SfmServed) -> None:
    """Every site declares at each moment of REPLAY; the sandbox must answer exactly what
    the rules module decides from the same indicators, and rebuild the same program."""
    sandbox, rng = sfm.sandbox, random.Random(5)
    truth: list[HmsProfile] = list(sandbox.profiles)  # the preloaded version 1s
    versions: Counter[str] = Counter({site_id: 1 for site_id in sandbox.sites})
    statuses: Counter[FeasibilityStatus] = Counter()
    for wall in REPLAY:
        moment = wall.replace(tzinfo=PARIS)
        sfm.set_clock(moment)
        for site in sandbox.sites.values():
            versions[site.site_id] += 1
            current = rebuild(_of(truth, site)) or [site.q_min] * SLOTS
            body = program_body(site, versions[site.site_id], _moved(current, site, rng), moment)
            expected = process_declaration(
                body, moment, sandbox.sites, truth, lambda s: _publications(sandbox, s)
            )
            assert not expected.rejected, error_json(expected.problems)
            assert sfm.post("/hmsProfiles", body).status_code == 201
            truth += expected.stored
            [stored] = expected.stored
            statuses[stored.feasibility.status] += 1
            answer = sfm.get(f"/hmsProfiles/{stored.declared.hms_profile_id}")
            assert answer.json() == stored.to_json()
            rebuilt = sfm.get(f"/sites/{site.site_id}/rebuiltHmsProfile", params=GAS_DAY)
            assert rebuilt.json() == rebuilt_profile(site, DAY, _of(truth, site), moment).to_json()
    assert statuses[FeasibilityStatus.ACCEPTED] and statuses[FeasibilityStatus.REFUSED]
    site = a_site(sfm)
    listed = sfm.get(f"/sites/{site.site_id}/hmsProfiles", params=GAS_DAY).json()["hmsProfiles"]
    assert listed == [profile.to_json() for profile in _of(truth, site)]


def _of(profiles: list[HmsProfile], site: Site) -> list[HmsProfile]:
    return [
        p for p in profiles if (p.declared.hms_site_id, p.declared.gas_day) == (site.site_id, DAY)
    ]


def _moved(current: Sequence[float], site: Site, rng: random.Random) -> list[float]:
    """The current program moved by up to 25 % an hour, kept inside the site's Min and Max."""
    moved = (value * rng.uniform(0.75, 1.25) for value in current)
    return [round(min(site.q_max, max(site.q_min, value)), -3) for value in moved]


def _publications(sandbox: SfmSandbox, site: Site) -> list[Publication]:
    """Whole days straight from the timeline, not the sandbox's own window of them."""
    days = [DAY + timedelta(days=offset) for offset in (-2, -1, 0, 1)]
    return [pub for day in days for pub in sandbox.timeline.day(site.ref.mesh_code, day)]


# --- indicators ----------------------------------------------------------------------------------


def test_indicators_over_a_day_match_the_rules_module(sfm: SfmServed) -> None:
    sandbox, seen = sfm.sandbox, Counter[str]()
    moment = datetime(2026, 11, 18, 5, 30, tzinfo=PARIS)
    while moment < datetime(2026, 11, 19, 6, 30, tzinfo=PARIS):
        sfm.set_clock(moment)
        answer = sfm.get("/sites/flexibilityIndicators").json()
        expected = [_expected_indicators(sandbox, site, moment) for site in sandbox.sites.values()]
        assert answer == expected, moment
        seen.update(key for item in answer for key in item["siteIndicators"])
        moment += timedelta(minutes=13)
    assert seen["nextIndicator"] > 0  # a change for the worse was shown before applying
    site = a_site(sfm)
    one = sfm.get(f"/sites/{site.site_id}/flexibilityIndicators").json()
    assert one == _expected_indicators(sandbox, site, sandbox.clock.now())


def _expected_indicators(sandbox: SfmSandbox, site: Site, moment: datetime) -> dict[str, Any]:
    shown = indicators_at(_publications(sandbox, site), moment)
    assert shown is not None
    return SiteIndicators(site.ref, shown).to_json()
