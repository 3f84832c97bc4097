"""Revocations, proofs and status against the ADICT sandbox over HTTP, and writes made
safe after a lost answer (the server acted, the client timed out)."""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.consents import Journal, journals_dir
from pipelines.partitions import paris_today
from resources.adict_consents import MAX_PROOF_BYTES, ProofRejected, check_proofs, consents_client
from sandbox.adict_data import Gda
from tests.conftest import Upstream
from tests.integration.consents_support import point_cli_at

ACTIVE, REVOKED, EXPIRED, PENDING, REFUSED, OBSOLETE = 0, 6, 7, 10, 13, 15
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"


def right_id(upstream: Upstream, index: int) -> str:
    return upstream.sandbox.portfolio.find(upstream.sandbox.portfolio.pces[index].id_pce)[1][
        "id_droit_acces"
    ]


def right(upstream: Upstream, index: int) -> dict:
    return upstream.sandbox.portfolio.find(upstream.sandbox.portfolio.pces[index].id_pce)[1]


def ask_proofs(upstream: Upstream, index: int) -> str:
    upstream.sandbox.desk.set_proof_status(
        right_id(upstream, index), "Preuve en attente", paris_today()
    )
    return right_id(upstream, index)


def docx(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<document/>")
    return path


@pytest.fixture
def upstream(adict_upstream: Callable[..., Upstream], monkeypatch: pytest.MonkeyPatch) -> Upstream:
    served = adict_upstream(calls_per_second=100.0)
    point_cli_at(served, monkeypatch, 50.0)
    return served


def test_revoke_each_answer_grdf_gives(
    upstream: Upstream, capsys: pytest.CaptureFixture[str]
) -> None:
    active, revoked, refused = (right_id(upstream, i) for i in (ACTIVE, REVOKED, REFUSED))
    unknown = "3044b042-2f6a-4172-9a75-b7e1bbbb0cfd"

    assert main(["consents", "revoke", active]) == 0
    assert right(upstream, ACTIVE)["etat_droit_acces"] == "Révoquée"
    assert main(["consents", "revoke", active, revoked, refused, unknown]) == 1
    printed = capsys.readouterr().out
    for refusal in (Gda.REVOKE_INCOHERENT, Gda.REVOKE_NOTHING, Gda.NO_SUCH_RIGHT):
        assert refusal.to_json()["message_retour_traitement"] in printed
    assert printed.count("Le demande est incohérente.") == 2  # revoked now, and before
    assert [c.status for c in upstream.calls()] == [200, 409, 409, 409, 404]


def test_revoke_from_a_csv_and_malformed_ids_cost_nothing(
    upstream: Upstream, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = tmp_path / "leavers.csv"
    ids.write_text(f"id_droit_acces\n{right_id(upstream, ACTIVE)}\n{right_id(upstream, 1)}\n")
    assert main(["consents", "revoke", "not-a-uuid"]) == 2
    assert upstream.calls() == []
    assert main(["consents", "revoke", "--csv", str(ids)]) == 0
    assert {right(upstream, i)["etat_droit_acces"] for i in (ACTIVE, 1)} == {"Révoquée"}
    capsys.readouterr()


def test_proofs_are_sent_and_each_409_is_shown(
    upstream: Upstream, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "consent.pdf").write_bytes(PDF)
    proofs = [str(tmp_path / "consent.pdf"), str(docx(tmp_path / "call-notes.docx"))]
    asked, expired = ask_proofs(upstream, ACTIVE), ask_proofs(upstream, EXPIRED)

    assert main(["consents", "proofs", asked, *proofs]) == 0
    assert right(upstream, ACTIVE)["statut_controle_preuve"] == "Preuve à vérifier"
    assert upstream.sandbox.desk.proofs[asked] == ["consent.pdf", "call-notes.docx"]
    assert main(["consents", "proofs", right_id(upstream, 1), *proofs]) == 1
    assert main(["consents", "proofs", expired, *proofs]) == 1
    printed = capsys.readouterr().out
    assert Gda.NO_PROOF_ASKED.to_json()["message_retour_traitement"] in printed
    assert Gda.PROOF_CONTRACT_ENDED.to_json()["message_retour_traitement"] in printed


@pytest.mark.parametrize(
    ("files", "problem"),
    [
        ({"a.pdf": PDF, "b.pdf": PDF, "c.pdf": PDF, "d.pdf": PDF}, "at most 3"),
        ({"big.pdf": PDF + b"x" * MAX_PROOF_BYTES}, "over GRDF's 4 MB"),
        ({"scan.pdf": b"plain text, not a pdf"}, "content is not pdf"),
        ({"setup.exe": b"MZ\x90\x00"}, ".exe is not one of"),
        ({"notes.txt": b"ok\x00\x01binary"}, "content is not txt"),
        ({"sheet.xlsx": b"PK\x03\x04 broken"}, "content is not xlsx"),
        ({"empty.csv": b""}, "empty"),
    ],
)
def test_proofs_grdf_would_refuse_are_not_sent(
    upstream: Upstream,
    tmp_path: Path,
    files: dict[str, bytes],
    problem: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    paths = [str(tmp_path / name) for name in files]
    assert main(["consents", "proofs", ask_proofs(upstream, ACTIVE), *paths]) == 2
    assert problem in capsys.readouterr().out
    assert upstream.calls() == []


def test_every_accepted_format_is_recognised_by_content(tmp_path: Path) -> None:
    contents = {
        "a.pdf": PDF,
        "b.mp3": b"ID3\x04\x00",
        "c.mp4": b"\x00\x00\x00\x18ftypmp42",
        "d.csv": "pce;énergie\n1;2\n".encode(),
        "e.txt": "consentement donné\r\n".encode("latin-1"),
    }
    for name, content in contents.items():
        (tmp_path / name).write_bytes(content)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("proof.txt", "ok")
    (tmp_path / "f.zip").write_bytes(buffer.getvalue())
    names = [*contents, "f.zip"]
    for group in (names[:3], names[3:]):
        assert [p.name for p in check_proofs([tmp_path / n for n in group])] == group
    with pytest.raises(ProofRejected):
        check_proofs([])


def test_a_lost_answer_is_read_back_never_sent_twice(upstream: Upstream) -> None:
    # Each write acts on the server, then answers after the client gave up waiting.
    upstream.sandbox.late_answers, upstream.sandbox.late_seconds = 3, 1.5
    asked = ask_proofs(upstream, 1)
    (pdf := Path(upstream.home.parent / "p.pdf")).write_bytes(PDF)
    with consents_client(upstream.resource(), read_timeout_seconds=0.5) as client:
        revoked = client.revoke(right_id(upstream, ACTIVE))
        proofs = client.send_proofs(asked, check_proofs([pdf]))
        prospect = upstream.sandbox.portfolio.prospects[0]
        declared = client.declare(prospect.id_pce, _declaration(upstream, prospect))

    assert (revoked.accepted, revoked.read_back) == (True, True)
    assert (proofs.accepted, proofs.read_back) == (True, True)
    assert (declared.accepted, declared.read_back) == (True, True)
    assert (
        declared.right["id_droit_acces"]
        == upstream.sandbox.portfolio.find(prospect.id_pce)[1]["id_droit_acces"]
    )
    calls = _all_logged(upstream, 6)  # late answers are logged when they are sent
    assert [(c.method, c.status) for c in calls] == [
        ("PATCH", 200),
        ("GET", 200),
        ("PUT", 200),
        ("GET", 200),
        ("PUT", 201),
        ("POST", 200),
    ]
    assert upstream.sandbox.desk.proofs[asked] == ["p.pdf"]


def test_a_5xx_may_have_acted_so_the_right_is_read_back_before_sending_again(
    upstream: Upstream,
) -> None:
    upstream.sandbox.faults.update({"fail_next": 1})  # from the gateway, before the handler
    with consents_client(upstream.resource()) as client:
        answer = client.revoke(right_id(upstream, ACTIVE))
    assert answer.accepted and not answer.read_back
    assert [(c.method, c.status) for c in upstream.calls()] == [
        ("PATCH", 500),
        ("GET", 200),
        ("PATCH", 200),
    ]


def test_a_429_never_acted_so_the_write_is_sent_again_without_reading(
    adict_upstream: Callable[..., Upstream],
) -> None:
    upstream = adict_upstream(calls_per_second=1.0)  # someone else on our client id: we
    with consents_client(upstream.resource(calls_per_second=50.0)) as client:  # go faster
        answers = [client.revoke(right_id(upstream, index)) for index in (ACTIVE, 1, 2)]
    assert all(a.accepted for a in answers)
    calls = [(c.method, c.status) for c in upstream.calls()]
    assert ("PATCH", 429) in calls
    assert [c for c in calls if c != ("PATCH", 429)] == [("PATCH", 200)] * 3


def _all_logged(upstream: Upstream, count: int) -> list:
    deadline = time.monotonic() + 10
    while len(upstream.calls()) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return sorted(upstream.calls(), key=lambda call: call.time)  # by arrival


def _declaration(upstream: Upstream, prospect: object) -> dict[str, str]:
    from sandbox.adict_data import postcode

    today = paris_today()
    return {
        "role_tiers": "AUTORISE_CONTRAT_FOURNITURE",
        "raison_sociale": "SCI LES TILLEULS",
        "code_postal": postcode(prospect),  # type: ignore[arg-type]
        "courriel_titulaire": "gerance@example.org",
        "date_debut_droit_acces": str(today),
        "date_fin_droit_acces": str(today + timedelta(days=365)),
        "perim_donnees_contractuelles": "Vrai",
        "perim_donnees_techniques": "Vrai",
        "perim_donnees_informatives": "Faux",
        "perim_donnees_publiees": "Faux",
    }


def test_status_counts_every_state_and_exits_1_only_when_an_operator_is_needed(
    upstream: Upstream, capsys: pytest.CaptureFixture[str]
) -> None:
    # Clear the default portfolio's alerts: a right waiting for years (its proofs asked
    # too), a refused proof.
    assert main(["consents", "revoke", right_id(upstream, PENDING)]) == 0
    upstream.sandbox.desk.set_proof_status(
        right_id(upstream, PENDING), "Preuve Vérifiée OK", paris_today()
    )
    upstream.sandbox.desk.set_proof_status(
        right_id(upstream, REFUSED), "Preuve Vérifiée OK", paris_today()
    )
    assert main(["consents", "status"]) == 0
    calm = capsys.readouterr().out
    for state in ("Active", "Révoquée", "Refusée", "A revérifier", "Obsolète"):
        assert state in calm

    ask_proofs(upstream, 2)
    right(upstream, 3)["date_fin_droit_acces"] = str(paris_today() + timedelta(days=10))
    right(upstream, 4)["etat_droit_acces"] = "A valider"  # declared long ago, never validated
    upstream.sandbox.desk.set_proof_status(
        right_id(upstream, 5), "Preuve Vérifiée KO", paris_today()
    )
    Journal(journals_dir(upstream.home) / "declare-x.jsonl").write(
        id_pce="99999999999999", event="sending"
    )
    assert main(["consents", "status", "--pending-days", "3"]) == 1
    printed = capsys.readouterr().out
    for alert, count in (
        ("waiting validation", 1),
        ("proofs pending", 1),
        ("proofs refused", 1),
        ("ending soon", 1),
        ("never answered", 1),
    ):
        assert f"{alert}: {count}" in printed
    assert "@" not in printed
