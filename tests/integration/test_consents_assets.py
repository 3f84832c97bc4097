"""The daily access-rights asset lands each right's history and warns like `status`;
consumption assets call only what is Active."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date, timedelta

import dagster as dg
import pytest

import assets.adict as adict_assets
from pipelines.partitions import paris_today
from resources.adict_consents import check_proofs, consents_client
from tests.conftest import Upstream
from tests.integration.test_consents_writes import PDF, _declaration, right_id
from tests.warehouse_reader import query

EVENT_COLUMNS = (
    "id_pce, seen_on, event, etat_droit_acces_before, etat_droit_acces, statut_controle_preuve"
)


def snapshot(
    upstream: Upstream, monkeypatch: pytest.MonkeyPatch, day: date
) -> dg.ExecuteInProcessResult:
    monkeypatch.setattr(adict_assets, "paris_today", lambda: day)
    return dg.materialize(
        [adict_assets.access_rights, *adict_assets.CONSENT_CHECKS], resources=upstream.resources()
    )


def events(upstream: Upstream, since: date) -> list[tuple]:
    sql = f"SELECT {EVENT_COLUMNS} FROM adict.access_right_events WHERE seen_on >= ? ORDER BY seen_on, event, id_pce"
    return query(upstream.home, sql, [since])


def test_each_change_of_a_right_is_an_event_and_the_check_warns_like_status(
    adict_upstream: Callable[..., Upstream], monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    upstream = adict_upstream()
    today = paris_today()
    day1, day2, day3 = today - timedelta(days=2), today - timedelta(days=1), today
    portfolio, desk = upstream.sandbox.portfolio, upstream.sandbox.desk
    first = snapshot(upstream, monkeypatch, day1)
    [check] = first.get_asset_check_evaluations()
    assert (check.check_name, check.passed) == ("consents_need_no_operator", False)
    assert check.metadata["waiting_validation"].value == 1  # the sandbox's old "A valider"
    assert check.metadata["proofs_refused"].value == 1
    assert "@" not in str(check.metadata)

    prospect = portfolio.prospects[0]
    with consents_client(upstream.resource()) as client:
        client.revoke(right_id(upstream, 0))
        client.declare(prospect.id_pce, _declaration(upstream, prospect))
    desk.set_proof_status(right_id(upstream, 1), "Preuve en attente", today)
    snapshot(upstream, monkeypatch, day2)

    desk.answer_email(1, "valider", upstream.sandbox.clock.now())
    pdf = tmp_path / "consent.pdf"
    pdf.write_bytes(PDF)
    with consents_client(upstream.resource()) as client:
        client.send_proofs(right_id(upstream, 1), check_proofs([pdf]))
    gone = portfolio.pces[2].id_pce
    desk.portfolio = replace(
        desk.portfolio, rights=tuple(r for r in desk.portfolio.rights if r["id_pce"] != gone)
    )
    snapshot(upstream, monkeypatch, day3)

    pce = [p.id_pce for p in portfolio.pces]
    assert len(events(upstream, day1)) - len(events(upstream, day2)) == 20  # day 1: all appeared
    assert events(upstream, day2) == sorted(
        [
            (pce[1], day2, "proof_status_changed", "Active", "Active", "Preuve en attente"),
            (prospect.id_pce, day2, "appeared", None, "A valider", None),
            (pce[0], day2, "state_changed", "Active", "Révoquée", None),
            (pce[2], day3, "disappeared", "Active", None, None),
            (pce[1], day3, "proof_status_changed", "Active", "Active", "Preuve à vérifier"),
            (prospect.id_pce, day3, "state_changed", "A valider", "Active", None),
        ],
        key=lambda e: (e[1], e[2], e[0]),
    )


def test_consumption_assets_call_a_declared_meter_only_once_active(
    adict_upstream: Callable[..., Upstream], monkeypatch: pytest.MonkeyPatch
) -> None:
    upstream = adict_upstream()
    prospect = upstream.sandbox.portfolio.prospects[0]
    day = paris_today() - timedelta(days=5)
    with consents_client(upstream.resource()) as client:
        client.declare(
            prospect.id_pce,
            _declaration(upstream, prospect)
            | {
                "perim_donnees_informatives": "Vrai",
                "perim_donnees_conso_debut": str(day - timedelta(days=30)),
                "perim_donnees_conso_fin": str(paris_today()),
            },
        )

    def informative_calls() -> int:
        dg.materialize([adict_assets.access_rights], resources=upstream.resources())
        upstream.materialize_range(adict_assets.informative_consumption, day, day)
        return len([c for c in upstream.calls(prospect.id_pce) if "informatives" in c.path])

    assert informative_calls() == 0  # "A valider": no call wasted
    upstream.sandbox.desk.answer_email(1, "valider", upstream.sandbox.clock.now())
    assert informative_calls() == 1
