"""The sandbox's data rules, and its ground truth checked against what it serves."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from sandbox.adict_data import (
    MALFORMED_PCE_IDS,
    DataType,
    Status,
    Window,
    build_portfolio,
    definitive_energy,
    eligible_pces,
    expected_informative,
    expected_published,
    gas_day_hours,
    informative_energy,
    restatement_factor,
    stream_blocks,
)
from sandbox.adict_params import BadRequest
from tests.sandbox.adict_sandbox_support import TODAY, Served

PORTFOLIO = build_portfolio(seed=7, size=24, anchor=TODAY)
SWAGGER = Path(__file__).parents[3] / "shared" / "references" / "adict-v2-swagger.json"


def pce(index: int) -> Any:
    return PORTFOLIO.pces[index]


def test_special_cases_decide_who_gets_informative_data() -> None:
    eligible = set(eligible_pces(PORTFOLIO, "informative", TODAY))
    refused = {6, 7, 8, 9, 10, 12, 13, 14, 15}
    assert {p.index for p in PORTFOLIO.pces if p.id_pce in eligible} == set(range(24)) - refused
    assert pce(12).id_pce in eligible_pces(PORTFOLIO, DataType.INJECTION, TODAY)
    assert pce(9).id_pce in eligible_pces(PORTFOLIO, DataType.PUBLISHED, TODAY)


def test_rights_list_has_upstream_quirks() -> None:
    rights = PORTFOLIO.rights
    tail = rights[-len(MALFORMED_PCE_IDS) :]
    assert [r["id_pce"] for r in tail] == list(MALFORMED_PCE_IDS)
    assert {r["etat_droit_acces"] for r in tail} == {"Active"}
    assert {r["role_tiers"] for r in rights} >= {
        "AUTORISE_CONTRAT_FOURNITURE",
        "AUTORISE CONTRAT FOURNITURE",
        "AUTORISE_CONTRAT_INJECTION",
    }
    assert len({r["perim_donnees_techniques"] for r in rights}) > 1  # "Vrai", "VRAI", "vrai"
    assert all(re.fullmatch(r"[0-9a-f-]{36}", r["id_droit_acces"]) for r in rights)
    assert pce(2).id_pce.startswith("GI") and pce(12).id_pce.startswith("GI")


def test_provisional_energy_is_restated_when_definitive() -> None:
    day = date(2026, 11, 10)
    provisional, status = informative_energy(pce(0), day, TODAY)
    assert status == "Provisoire"
    assert provisional == round(definitive_energy(pce(0), day) * restatement_factor(pce(0), day))
    assert 0.92 <= restatement_factor(pce(0), day) < 1.08
    assert informative_energy(pce(0), day, date(2026, 12, 5)) == (
        definitive_energy(pce(0), day),
        "Définitive",
    )


def test_gas_day_length_scales_energy() -> None:
    assert [gas_day_hours(date(2026, 3, 28)), gas_day_hours(date(2026, 10, 24))] == [23, 25]


def test_published_month_is_the_sum_of_definitive_days() -> None:
    window = Window(date(2026, 9, 1), date(2026, 9, 30))
    (block,) = stream_blocks(PORTFOLIO, pce(1).id_pce, DataType.PUBLISHED, window, TODAY)
    days = [date(2026, 9, 1) + timedelta(n) for n in range(30)]
    assert block["consommation"]["energie"] == sum(definitive_energy(pce(1), d) for d in days)
    assert block["consommation"]["journee_gaziere"] is None
    assert block["bordereau_publication"]["nb_jour_gazier"] == 30


def test_index_readings_chain_from_day_to_day() -> None:
    window = Window(date(2026, 6, 1), date(2026, 6, 3))
    blocks = list(stream_blocks(PORTFOLIO, pce(0).id_pce, DataType.INFORMATIVE, window, TODAY))
    for block in blocks:
        start = block["releve_debut"]["index_brut_debut"]["valeur_index"]
        end = block["releve_fin"]["index_brut_fin"]["valeur_index"]
        assert end == pytest.approx(start + block["consommation"]["volume_brut"])
    ends = [b["releve_fin"]["index_brut_fin"]["valeur_index"] for b in blocks[:-1]]
    assert ends == [b["releve_debut"]["index_brut_debut"]["valeur_index"] for b in blocks[1:]]


def test_data_starts_at_commissioning_and_at_the_perimeter() -> None:
    rows = expected_informative(PORTFOLIO, "c", date(2026, 1, 1), TODAY, TODAY)
    first = {r["id_pce"]: r["journee_gaziere"] for r in reversed(rows)}
    assert first[pce(4).id_pce] == TODAY - timedelta(40)
    assert first[pce(5).id_pce] == TODAY - timedelta(20)
    assert pce(3).id_pce not in first and pce(2).id_pce not in first  # 6M and MM meters
    last = {r["id_pce"]: r["journee_gaziere"] for r in rows}
    assert last[pce(0).id_pce] == TODAY - timedelta(1)  # JJ: D+1
    assert last[pce(1).id_pce] == TODAY - timedelta(3)  # 1M: D+3


def test_injection_meter_publishes_monthly_production() -> None:
    rows = expected_published(PORTFOLIO, "c", date(2026, 1, 1), TODAY, TODAY, "injection")
    assert [r["date_debut_consommation"].month for r in rows] == list(range(1, 11))
    window = Window(date(2026, 10, 1), date(2026, 10, 31))
    (block,) = stream_blocks(PORTFOLIO, pce(12).id_pce, DataType.INJECTION, window, TODAY)
    assert block["injection"]["sens_flux_gaz"] == "Production"
    assert block["injection"]["energie"] == rows[-1]["energie"]


def test_messages_are_the_swagger_text() -> None:
    if not SWAGGER.exists():
        pytest.skip("shared/references is not beside this checkout")
    paths = json.loads(SWAGGER.read_text())["paths"]
    texts = " / ".join(
        response["description"]
        for path in paths.values()
        for operation in path.values()
        for response in operation["responses"].values()
    )
    for message in [s.message for s in Status] + [b.value[1] for b in BadRequest]:
        assert message in texts, message


def _land_informative(served: Served, first: date, last: date) -> list[dict[str, Any]]:
    """What a careful client does: every right, retrying a failed period once."""
    rows = []
    params = {"date_debut": str(first), "date_fin": str(last)}
    for right in served.sandbox.portfolio.rights:
        path = f"/pce/{right['id_pce']}/donnees_consos_informatives"
        if not re.fullmatch(r"GI[0-9]{6}|[0-9]{14}", right["id_pce"]):
            continue
        for block in served.lines(path, params=params)[:-1]:
            if (status := block["statut_restitution"]) and status["code"] == "1030":
                retry = {k: block["periode"][k] for k in ("date_debut", "date_fin")}
                block = served.lines(path, params=retry)[0]
            if (
                block["consommation"]
                and first <= date.fromisoformat(block["consommation"]["journee_gaziere"]) <= last
            ):
                rows.append(block)
    return [
        {
            "id_pce": b["pce"]["id_pce"],
            "journee_gaziere": date.fromisoformat(b["consommation"]["journee_gaziere"]),
            "energie": b["consommation"]["energie"],
            "statut_conso": b["consommation"]["statut_conso"],
        }
        for b in rows
    ]


def test_ground_truth_matches_what_is_served(fresh: Served) -> None:
    first, last = date(2026, 10, 20), TODAY
    landed = _land_informative(fresh, first, last)
    portfolio = fresh.sandbox.portfolio
    assert sorted(landed, key=str) == sorted(
        expected_informative(portfolio, "gazoduc-sandbox", first, last, TODAY), key=str
    )
