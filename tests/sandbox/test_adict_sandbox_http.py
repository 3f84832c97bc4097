"""The ADICT sandbox over real HTTP: auth, validation, streams, quotas and faults."""

from __future__ import annotations

import time
from datetime import date, timedelta

import httpx
import orjson
import pytest

from sandbox.adict_data import Status
from sandbox.adict_params import BadRequest
from tests.sandbox.adict_sandbox_support import Served, serve

INFORMATIVE = "/pce/{}/donnees_consos_informatives"
PUBLISHED = "/pce/{}/donnees_consos_publiees"
SUCCESS = {
    "code_statut_traitement": "0000000000",
    "message_retour_traitement": "L'opération s'est déroulée avec succès.",
}


def test_token_grants_access_and_data_calls_need_one(adict: Served) -> None:
    assert adict.get("/droits_acces").status_code == 200
    missing = adict.http.get("/adict/v2/droits_acces")
    assert missing.status_code == 401
    assert missing.json()["code"] == "401"
    form = {"grant_type": "client_credentials", "client_id": "gazoduc-sandbox"}
    refused = adict.http.post("/oauth2/token", data=form | {"client_secret": "wrong"})
    assert (refused.status_code, refused.json()) == (401, {"error": "invalid_client"})


def test_token_endpoint_also_takes_http_basic(adict: Served) -> None:
    response = adict.http.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=("gazoduc-sandbox", "sandbox-secret"),
    )
    assert response.status_code == 200
    assert response.json()["token_type"] == "Bearer"


def test_expired_token_is_refused() -> None:
    for served in serve(token_ttl_seconds=1):
        assert served.get("/droits_acces").status_code == 200
        time.sleep(1.1)
        assert served.get("/droits_acces").status_code == 401


@pytest.mark.parametrize(
    ("pce", "params", "reason"),
    [
        ("123", {"periode": "2026"}, BadRequest.BAD_PCE_ID),
        (0, {"periode": "2026", "date_debut": "2026-01-01"}, BadRequest.BOTH_PERIOD_FORMS),
        (0, {}, BadRequest.NO_PERIOD),
        (0, {"date_fin": "2026-01-01"}, BadRequest.MISSING_DATE_DEBUT),
        (0, {"date_debut": "2026-1-01", "date_fin": "2026-02-01"}, BadRequest.BAD_DATE),
        (0, {"periode": "26"}, BadRequest.BAD_PERIODE),
        (0, {"date_debut": "2023-11-21", "date_fin": "2024-01-01"}, BadRequest.TOO_OLD_3_YEARS),
        (0, {"date_debut": "2026-11-01", "date_fin": "2026-11-23"}, BadRequest.END_AFTER_TODAY),
        (
            0,
            {"date_debut": "2026-11-01", "date_fin": "2026-11-01"},
            BadRequest.START_NOT_BEFORE_END,
        ),
    ],
)
def test_informative_bad_requests(
    adict: Served, pce: int | str, params: dict, reason: BadRequest
) -> None:
    id_pce = adict.pce(pce) if isinstance(pce, int) else pce
    response = adict.get(INFORMATIVE.format(id_pce), params=params)
    assert response.status_code == 400
    body = response.json()
    assert body["statut_restitution"]["message"] == reason.value[1]
    assert body["consommation"] is None and body["pce"] == {"id_pce": id_pce}


def test_history_limit_is_five_years_for_published(adict: Served) -> None:
    params = {"date_debut": "2022-11-22", "date_fin": "2023-01-01"}
    assert adict.get(PUBLISHED.format(adict.pce(1)), params=params).status_code == 200
    params["date_debut"] = "2021-11-21"
    body = adict.get(PUBLISHED.format(adict.pce(1)), params=params).json()
    assert body["statut_restitution"]["message"] == BadRequest.TOO_OLD_5_YEARS.value[1]


def test_streams_end_with_the_success_trailer(adict: Served) -> None:
    rights = adict.lines("/droits_acces")
    assert rights[-1] == SUCCESS
    assert len(rights) == len(adict.sandbox.portfolio.rights) + 1
    params = {"date_debut": "2026-11-01", "date_fin": "2026-11-22"}
    blocks = adict.lines(INFORMATIVE.format(adict.pce(0)), params=params)
    assert blocks[-1] == SUCCESS
    days = [block["consommation"]["journee_gaziere"] for block in blocks[:-1]]
    assert days == [str(date(2026, 11, 1) + timedelta(n)) for n in range(21)]  # up to today-1


def test_rights_filter_by_post(adict: Served) -> None:
    body = {
        "etat_droit_acces": ["Révoquée", "Refusée"],
        "role_tiers": ["AUTORISE_CONTRAT_FOURNITURE"],
    }
    response = adict.http.post("/adict/v2/droits_acces", json=body, headers=adict.auth)
    rights = [orjson.loads(line) for line in response.text.splitlines()][:-1]
    assert {r["id_pce"] for r in rights} == {adict.pce(6), adict.pce(13)}


def test_gas_day_offsets_follow_daylight_saving(adict: Served) -> None:
    params = {"date_debut": "2026-03-28", "date_fin": "2026-03-29"}
    spring = [
        b["consommation"] for b in adict.lines(INFORMATIVE.format(adict.pce(0)), params=params)[:-1]
    ]
    assert spring[0]["date_debut_consommation"] == "2026-03-28T06:00:00+01:00"
    assert spring[0]["date_fin_consommation"] == "2026-03-29T06:00:00+02:00"
    assert spring[1]["date_debut_consommation"] == "2026-03-29T06:00:00+02:00"
    params = {"date_debut": "2026-10-24", "date_fin": "2026-10-25"}
    autumn = [
        b["consommation"] for b in adict.lines(INFORMATIVE.format(adict.pce(0)), params=params)[:-1]
    ]
    assert autumn[0]["date_fin_consommation"] == "2026-10-25T06:00:00+01:00"


def test_refused_pce_answers_200_with_the_swagger_message(adict: Served) -> None:
    params = {"periode": "2026-10"}
    cases = {6: Status.REVOKED_BY_HOLDER, 7: Status.EXPIRED, 8: Status.MOVED_OUT}
    cases |= {9: Status.OUT_OF_PERIMETER_INFORMATIVE, 3: Status.NO_DATA}
    for index, status in cases.items():
        block, trailer = adict.lines(INFORMATIVE.format(adict.pce(index)), params=params)
        assert block["statut_restitution"] == status.to_json()
        assert block["consommation"] is None and trailer == SUCCESS


def test_second_call_within_a_second_gets_429() -> None:
    for served in serve(calls_per_second=1.0):
        first, second = served.get("/droits_acces"), served.get("/droits_acces")
        assert (first.status_code, second.status_code) == (200, 429)
        assert int(second.headers["Retry-After"]) >= 1
        assert second.json()["code"] == "429"
        time.sleep(1.0)
        assert served.get("/droits_acces").status_code == 200
        statuses = [call["status"] for call in served.http.get("/_sandbox/calls").json()]
        assert statuses == [200, 429, 200]


def test_daily_budget_rejects_without_counting() -> None:
    for served in serve(calls_per_day=2):
        codes = [served.get("/droits_acces").status_code for _ in range(4)]
        assert codes == [200, 200, 429, 429]
        assert served.sandbox.quota.used_today("gazoduc-sandbox") == 2
        assert int(served.get("/droits_acces").headers["Retry-After"]) >= 1
        served.http.post("/_sandbox/reset")
        assert served.get("/droits_acces").status_code == 200


def test_fail_next_answers_500_once(fresh: Served) -> None:
    fresh.http.post("/_sandbox/faults", json={"fail_next": 1})
    failed = fresh.get(INFORMATIVE.format(fresh.pce(0)), params={"periode": "2026-10"})
    assert failed.status_code == 500
    assert failed.json()["statut_restitution"]["code"] == "2000000"
    assert fresh.get("/droits_acces").status_code == 200


def test_cut_stream_breaks_the_read(fresh: Served) -> None:
    fresh.http.post("/_sandbox/faults", json={"cut_next": 1})
    with pytest.raises(httpx.RemoteProtocolError):
        fresh.get(INFORMATIVE.format(fresh.pce(0)), params={"periode": "2026-10"})
    assert (
        fresh.lines(INFORMATIVE.format(fresh.pce(0)), params={"periode": "2026-10"})[-1] == SUCCESS
    )


def test_pretty_and_wrapped_rights(fresh: Served) -> None:
    fresh.http.post("/_sandbox/faults", json={"pretty": True, "wrap_rights": True})
    text = fresh.get("/droits_acces").text
    wrapped = orjson.loads(text)  # one pretty-printed object over many lines
    assert text.count("\n") > 100
    assert len(wrapped["liste_acces"]) == len(fresh.sandbox.portfolio.rights)
    assert wrapped["code_statut_traitement"] == "0000000000"


def test_trailer_error_and_latency(fresh: Served) -> None:
    fresh.http.post("/_sandbox/faults", json={"trailer_error_next": 1, "latency_ms": 300})
    started = time.monotonic()
    assert fresh.lines("/droits_acces")[-1]["code_statut_traitement"] == "0000000002"
    assert time.monotonic() - started >= 0.3
    assert fresh.lines("/droits_acces")[-1] == SUCCESS
    faults = fresh.http.get("/_sandbox/faults").json()
    assert faults["trailer_error_next"] == 0 and faults["latency_ms"] == 300


def test_transient_block_error_is_served_once(fresh: Served) -> None:
    error_day = fresh.sandbox.portfolio.pces[11].transient_error_day
    params = {"date_debut": str(error_day - timedelta(1)), "date_fin": str(error_day)}
    first = fresh.lines(INFORMATIVE.format(fresh.pce(11)), params=params)
    assert first[1]["statut_restitution"] == Status.RETRY_PERIOD.to_json()
    assert first[1]["periode"]["date_debut"] == str(error_day)
    second = fresh.lines(INFORMATIVE.format(fresh.pce(11)), params=params)
    assert second[1]["consommation"]["journee_gaziere"] == str(error_day)


def test_clock_control_moves_today(fresh: Served) -> None:
    fresh.http.post("/_sandbox/clock", json={"today": "2026-12-10"})
    params = {"date_debut": "2026-12-01", "date_fin": "2026-12-10"}
    blocks = fresh.lines(INFORMATIVE.format(fresh.pce(0)), params=params)[:-1]
    assert blocks[-1]["consommation"]["journee_gaziere"] == "2026-12-09"


def test_contractual_and_technical_records(adict: Served) -> None:
    contract = adict.get(f"/pce/{adict.pce(0)}/donnees_contractuelles").json()
    assert contract["statut_restitution"] is None
    keys = {"car", "cja", "profil", "tarif_acheminement", "date_mes"}
    assert set(contract["donnees_contractuelles"]) == keys
    technical = adict.get(f"/pce/{adict.pce(3)}/donnees_techniques").json()
    assert technical["donnees_techniques"]["caracteristiques_compteur"]["frequence"] == "6M"
    moved = adict.get(f"/pce/{adict.pce(8)}/donnees_techniques").json()
    assert moved["statut_restitution"] == Status.MOVED_OUT.to_json()


def test_same_seed_same_bytes() -> None:
    bodies = []
    for _ in range(2):
        for served in serve():
            path = INFORMATIVE.format(served.pce(0))
            params = {"date_debut": "2026-01-01", "date_fin": "2026-11-22"}
            bodies.append(
                served.get("/droits_acces").content + served.get(path, params=params).content
            )
    assert bodies[0] == bodies[1]
