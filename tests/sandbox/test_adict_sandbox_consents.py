"""The ADICT sandbox's access-rights writes over HTTP, held to GRDF's Swagger."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.adict_data import MAX_PROOF_BYTES, Gda, Status, postcode
from sandbox.clock import PARIS
from tests.sandbox.adict_sandbox_support import TODAY, Served, serve

SWAGGER = Path("/work/shared/references/adict-v2-swagger.json")
MOVED_OUT, REVOKED, EXPIRED, PENDING, REFUSED, OBSOLETE = 8, 6, 7, 10, 13, 15


def declaration(served: Served, prospect: int = 0, **changes: Any) -> tuple[str, dict]:
    """A valid declaration of a prospect meter, as demander_acces_in spells it."""
    pce = served.sandbox.portfolio.prospects[prospect]
    body = {
        "role_tiers": "AUTORISE_CONTRAT_FOURNITURE",
        "nom_titulaire": "M. DUPONT JEAN",
        "code_postal": postcode(pce),
        "courriel_titulaire": f"holder{prospect}@example.com",
        "numero_telephone_mobile_titulaire": "0612455211",
        "date_debut_droit_acces": str(TODAY - timedelta(days=2)),
        "date_fin_droit_acces": str(TODAY + timedelta(days=365)),
        "perim_donnees_conso_debut": str(TODAY - timedelta(days=700)),
        "perim_donnees_conso_fin": str(TODAY + timedelta(days=300)),
        "perim_donnees_contractuelles": "Vrai",
        "perim_donnees_techniques": "Vrai",
        "perim_donnees_informatives": "Vrai",
        "perim_donnees_publiees": "Faux",
    }
    return pce.id_pce, {k: v for k, v in (body | changes).items() if v is not None}


def put_right(served: Served, id_pce: str, body: dict) -> httpx.Response:
    return served.http.put(f"/adict/v2/pce/{id_pce}/droit_acces", json=body, headers=served.auth)


def revoke(served: Served, right_id: str) -> httpx.Response:
    return served.http.patch(f"/adict/v2/droit_acces/{right_id}", headers=served.auth)


def send_proofs(served: Served, right_id: str, files: list[tuple[str, bytes]]) -> httpx.Response:
    parts = [("preuves", (name, content)) for name, content in files]
    url = f"/adict/v2/droit_acces/{right_id}/preuves"
    return served.http.put(url, files=parts, headers=served.auth)


def right_of(served: Served, id_pce: str) -> dict[str, Any]:
    return served.sandbox.portfolio.find(id_pce)[1] or {}


def answer(refusal: Gda) -> tuple[int, dict[str, str]]:
    return refusal.status, refusal.to_json()


@pytest.fixture
def fresh_at_ten() -> Any:
    for served in serve():
        served.sandbox.clock.set_now(datetime(2026, 11, 22, 10, tzinfo=PARIS))
        yield served


def _swagger_texts() -> str:
    """Every response description and example of the Swagger, as one searchable text."""
    document = json.loads(SWAGGER.read_text())
    texts = [
        r.get("description", "")
        for p in document["paths"].values()
        for op in p.values()
        for r in op.get("responses", {}).values()
    ]
    for definition in document["definitions"].values():
        message = definition.get("properties", {}).get("message_retour_traitement", {})
        texts.append(str(message.get("example", "")))
    return "\n".join(texts)


@pytest.mark.skipif(not SWAGGER.exists(), reason="GRDF's Swagger is not on this machine")
def test_every_answer_of_the_write_resources_is_the_swaggers_text() -> None:
    texts = _swagger_texts()
    assert [g.name for g in Gda if g.to_json()["message_retour_traitement"] not in texts] == []


def test_a_declaration_waits_for_its_holder_then_is_active(fresh_at_ten: Served) -> None:
    served = fresh_at_ten
    id_pce, body = declaration(served)
    created = put_right(served, id_pce, body)
    assert created.status_code == 201
    out = created.json()
    assert out["code_statut_traitement"] == "0000000002"
    assert (out["id_pce"], out["etat_droit_acces"], out["parcours"]) == (
        id_pce,
        "A valider",
        "TIERS_DIRECT",
    )
    assert out["date_creation_droit_acces"] == "2026-11-22 10:00:00"
    listed = served.lines("/droits_acces")
    assert [r["etat_droit_acces"] for r in listed if r.get("id_pce") == id_pce] == ["A valider"]
    assert (
        put_right(served, id_pce, body).status_code,
        put_right(served, id_pce, body).json(),
    ) == answer(Gda.PENDING)

    [email] = served.http.get("/_sandbox/validations").json()
    served.http.post(
        "/_sandbox/validations", json={"number": email["number"], "decision": "valider"}
    )
    assert right_of(served, id_pce)["etat_droit_acces"] == "Active"
    assert (
        put_right(served, id_pce, body).status_code,
        put_right(served, id_pce, body).json(),
    ) == answer(Gda.EXISTS)
    # Now Active, the meter's data is served like any portfolio meter's.
    blocks = served.lines(
        f"/pce/{id_pce}/donnees_consos_informatives",
        params={"date_debut": "2026-11-01", "date_fin": "2026-11-10"},
    )
    assert blocks[0]["statut_restitution"] is None


def test_declarations_60_seconds_apart_or_less_share_one_validation_email(
    fresh_at_ten: Served,
) -> None:
    served, clock = fresh_at_ten, fresh_at_ten.sandbox.clock
    email = "same.holder@example.com"
    for prospect, wait in ((0, 0), (1, 60), (2, 60), (3, 61)):
        clock.advance(wait)
        id_pce, body = declaration(served, prospect, courriel_titulaire=email)
        assert put_right(served, id_pce, body).status_code == 201
    id_pce, body = declaration(served, 4, courriel_titulaire="other@example.com")
    put_right(served, id_pce, body)

    emails = served.http.get("/_sandbox/validations").json()
    assert [len(e["id_droit_acces"]) for e in emails] == [3, 1, 1]
    served.http.post("/_sandbox/validations", json={"number": 1, "decision": "refuser"})
    states = [
        right_of(served, served.sandbox.portfolio.prospects[n].id_pce)["etat_droit_acces"]
        for n in range(5)
    ]
    assert states == ["Révoquée"] * 3 + ["A valider"] * 2


@pytest.mark.parametrize(
    ("changes", "refusal"),
    [
        ({"role_tiers": None}, Gda.NO_ROLE),
        ({"nom_titulaire": None}, Gda.NO_HOLDER),
        ({"raison_sociale": "BabaTech"}, Gda.BOTH_HOLDERS),
        ({"date_fin_droit_acces": "31/12/2027"}, Gda.BAD_END_FORMAT),
        ({"date_debut_droit_acces": None}, Gda.NO_START),
        ({"code_postal": None}, Gda.NO_POSTCODE),
        ({"code_postal": "7500"}, Gda.BAD_POSTCODE),
        ({"courriel_titulaire": None}, Gda.NO_EMAIL),
        ({"courriel_titulaire": "not-an-address"}, Gda.BAD_EMAIL),
        ({"numero_telephone_mobile_titulaire": "0112345678"}, Gda.BAD_PHONE),
        ({"perim_donnees_techniques": "oui"}, Gda.FLAG_TECHNICAL),
        (
            {
                "perim_donnees_contractuelles": "Faux",
                "perim_donnees_techniques": "Faux",
                "perim_donnees_informatives": "Faux",
            },
            Gda.NO_PERIMETER,
        ),
        ({"perim_donnees_conso_debut": None}, Gda.NO_CONSO_START),
        ({"date_fin_droit_acces": str(TODAY - timedelta(days=1))}, Gda.END_BEFORE_TODAY),
        ({"date_debut_droit_acces": str(TODAY + timedelta(days=1))}, Gda.START_AFTER_TODAY),
        ({"perim_donnees_conso_fin": str(TODAY - timedelta(days=800))}, Gda.CONSO_END_BEFORE_START),
        ({"perim_donnees_conso_fin": str(TODAY + timedelta(days=400))}, Gda.CONSO_END_AFTER_RIGHT),
        ({"perim_donnees_conso_debut": str(date(2021, 11, 21))}, Gda.INCONSISTENT),
        ({"code_postal": "00000"}, Gda.POSTCODE_MISMATCH),
    ],
)
def test_a_bad_declaration_gets_the_swaggers_refusal(
    adict: Served, changes: dict, refusal: Gda
) -> None:
    id_pce, body = declaration(adict, 10, **changes)
    response = put_right(adict, id_pce, body)
    assert (response.status_code, response.json()) == answer(refusal)
    assert right_of(adict, id_pce) == {}


def test_declaring_meters_that_hold_a_right_or_do_not_exist(adict: Served) -> None:
    _, body = declaration(adict, 11)

    def declare(id_pce: str) -> tuple[int, dict]:
        pce = adict.sandbox.portfolio.find(id_pce)[0]
        response = put_right(adict, id_pce, body | {"code_postal": postcode(pce)} if pce else body)
        return response.status_code, response.json()

    assert declare("123") == answer(Gda.BAD_PCE)
    assert declare("99999999999999") == answer(Gda.UNKNOWN_PCE)
    assert declare(adict.pce(0)) == answer(Gda.EXISTS)
    assert declare(adict.pce(REVOKED)) == answer(Gda.REVOKED)
    assert declare(adict.pce(PENDING)) == answer(Gda.PENDING)
    assert declare(adict.pce(MOVED_OUT)) == answer(Gda.CONTRACT_ENDED)
    # An ended right (expired, obsolete) is renewed by a new declaration.
    assert declare(adict.pce(EXPIRED))[0] == 201
    assert declare(adict.pce(OBSOLETE))[0] == 201


def test_revocation_is_final(fresh: Served) -> None:
    right = right_of(fresh, fresh.pce(0))
    response = revoke(fresh, right["id_droit_acces"])
    assert (response.status_code, response.json()) == answer(Gda.SUCCESS)
    assert (right["etat_droit_acces"], right["source_revocation"]) == ("Révoquée", "Tiers")
    again = revoke(fresh, right["id_droit_acces"])
    assert (again.status_code, again.json()) == answer(Gda.REVOKE_INCOHERENT)
    blocks = fresh.lines(
        f"/pce/{fresh.pce(0)}/donnees_consos_informatives", params={"periode": "2026-11"}
    )
    assert blocks[0]["statut_restitution"] == Status.REVOKED_BY_HOLDER.to_json()
    _, body = declaration(fresh)
    renewal = put_right(fresh, fresh.pce(0), body | {"code_postal": right["code_postal"]})
    assert (renewal.status_code, renewal.json()) == answer(Gda.REVOKED)


def test_revoking_what_cannot_be_revoked(adict: Served) -> None:
    def status_of(right_id: str) -> tuple[int, dict]:
        response = revoke(adict, right_id)
        return response.status_code, response.json()

    assert status_of("3044b042-2f6a-4172-9a75-b7e1bbbb0cfd") == answer(Gda.NO_SUCH_RIGHT)
    refused = right_of(adict, adict.pce(REFUSED))["id_droit_acces"]
    assert status_of(refused) == answer(Gda.REVOKE_NOTHING)
    revoked = right_of(adict, adict.pce(REVOKED))["id_droit_acces"]
    assert status_of(revoked) == answer(Gda.REVOKE_INCOHERENT)


PDF = b"%PDF-1.7\n" + b"x" * 100


def test_proofs_move_a_control_to_checking(fresh: Served) -> None:
    right = right_of(fresh, fresh.pce(0))
    no_control = send_proofs(fresh, right["id_droit_acces"], [("consent.pdf", PDF)])
    assert (no_control.status_code, no_control.json()) == answer(Gda.NO_PROOF_ASKED)
    fresh.http.post(
        "/_sandbox/proof_status",
        json={
            "id_droit_acces": [right["id_droit_acces"]],
            "statut_controle_preuve": "Preuve en attente",
        },
    )
    assert right["date_limite_transmission_preuve"] == str(TODAY + timedelta(days=28))
    sent = send_proofs(
        fresh, right["id_droit_acces"], [("consent.pdf", PDF), ("call.mp3", b"ID3...")]
    )
    assert (sent.status_code, sent.json()) == answer(Gda.SUCCESS)
    assert right["statut_controle_preuve"] == "Preuve à vérifier"
    # "> 1er envoi": more proofs for the same control are still taken.
    assert send_proofs(fresh, right["id_droit_acces"], [("more.txt", b"ok")]).status_code == 200
    assert fresh.sandbox.desk.proofs[right["id_droit_acces"]] == [
        "consent.pdf",
        "call.mp3",
        "more.txt",
    ]


@pytest.mark.parametrize(
    ("files", "refusal"),
    [
        ([("a.pdf", PDF)] * 4, Gda.TOO_MANY_PROOFS),
        ([("a.exe", PDF)], Gda.PROOF_FORMAT),
        ([("a.pdf", b"%PDF" + b"x" * MAX_PROOF_BYTES)], Gda.PROOF_TOO_LARGE),
        ([("a.pdf", b"MZ\x90\x00 a windows program")], Gda.PROOF_CORRUPTED),
    ],
)
def test_proof_files_grdf_refuses(fresh: Served, files: list, refusal: Gda) -> None:
    right = right_of(fresh, fresh.pce(0))
    fresh.sandbox.desk.set_proof_status(right["id_droit_acces"], "Preuve en attente", TODAY)
    response = send_proofs(fresh, right["id_droit_acces"], files)
    assert (response.status_code, response.json()) == answer(refusal)
    assert right["statut_controle_preuve"] == "Preuve en attente"


def test_proofs_for_an_ended_contract_or_without_files(fresh: Served) -> None:
    expired = right_of(fresh, fresh.pce(EXPIRED))["id_droit_acces"]
    fresh.sandbox.desk.set_proof_status(expired, "Preuve en attente", TODAY)
    ended = send_proofs(fresh, expired, [("a.pdf", PDF)])
    assert (ended.status_code, ended.json()) == answer(Gda.PROOF_CONTRACT_ENDED)
    not_multipart = fresh.http.put(
        f"/adict/v2/droit_acces/{expired}/preuves", json={}, headers=fresh.auth
    )
    assert (not_multipart.status_code, not_multipart.json()) == answer(Gda.PROOFS_MALFORMED)


def test_writes_count_against_the_same_quota_as_reads() -> None:
    for served in serve(calls_per_day=3):
        id_pce, body = declaration(served)
        assert served.get("/droits_acces").status_code == 200
        assert put_right(served, id_pce, body).status_code == 201
        assert revoke(served, right_of(served, id_pce)["id_droit_acces"]).status_code == 200
        assert served.get("/droits_acces").status_code == 429
        assert [c.method for c in served.sandbox.quota.calls()] == ["GET", "PUT", "PATCH", "GET"]
