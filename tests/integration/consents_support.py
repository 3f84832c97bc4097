"""A customers file with known defects, built from the ADICT sandbox's own meters."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from pipelines.consents import CUSTOMER_COLUMNS
from sandbox.adict_data import postcode
from tests.conftest import CLIENT_ID, CLIENT_SECRET, Upstream

COLUMNS = CUSTOMER_COLUMNS  # the file format is ours: the command's own list
HOLDER_NAMES = ("M. DUPONT JEAN", "SAS BOULANGERIE DU PORT")  # must never be printed


def row(meter: str, postal: str, n: int, today: date, **changes: Any) -> dict[str, str]:
    base = {
        "id_pce": meter,
        "role_tiers": "AUTORISE_CONTRAT_FOURNITURE",
        "nom_titulaire": HOLDER_NAMES[0] if n % 3 else "",
        "raison_sociale": "" if n % 3 else HOLDER_NAMES[1],
        "code_postal": postal,
        "courriel_titulaire": f"client{n}@example.org",
        "numero_telephone_mobile_titulaire": f"06{n:08d}" if n % 2 else "",
        "date_debut_droit_acces": str(today - timedelta(days=5)),
        "date_fin_droit_acces": str(today + timedelta(days=730)),
        "perim_donnees_conso_debut": str(today - timedelta(days=3 * 365)),
        "perim_donnees_conso_fin": str(today + timedelta(days=365)),
        "perim_donnees_inj_debut": "",
        "perim_donnees_inj_fin": "",
        "perim_donnees_contractuelles": "Vrai",
        "perim_donnees_techniques": "VRAI",
        "perim_donnees_informatives": "vrai",
        "perim_donnees_publiees": "Faux",
    }
    return base | changes


@dataclass
class CustomersCase:
    path: Path
    new: list[str]  # meters to declare
    active: list[str]  # meters already holding an Active right
    bad_lines: list[int] = field(default_factory=list)


def customers_file(
    path: Path, upstream: Upstream, today: date, new: int = 165, active: int = 20, bad: bool = True
) -> CustomersCase:
    """`new` prospects, `active` portfolio meters already Active, and (with `bad`) 15 bad
    rows: malformed ids, consents ending before they start or before today, perimeters
    older than GRDF's 5 years, missing or double holders, duplicate meters, bad e-mail,
    postcode, phone and flag, and a consumption perimeter without dates."""
    portfolio = upstream.sandbox.portfolio
    prospects = portfolio.prospects
    rows = [row(p.id_pce, postcode(p), n, today) for n, p in enumerate(prospects[:new])]
    actives = portfolio.pces[16 : 16 + active]
    rows += [row(p.id_pce, postcode(p), 500 + n, today) for n, p in enumerate(actives)]
    case = CustomersCase(path, [p.id_pce for p in prospects[:new]], [p.id_pce for p in actives])
    if bad:
        spare = prospects[new : new + 15]
        defects: list[dict[str, str]] = [
            {"id_pce": "12345ABC"},
            {"id_pce": "GI12345"},
            {
                "date_fin_droit_acces": str(today - timedelta(days=10)),
                "date_debut_droit_acces": str(today - timedelta(days=5)),
            },
            {
                "date_fin_droit_acces": str(today - timedelta(days=1)),
                "date_debut_droit_acces": str(today - timedelta(days=400)),
            },
            {"perim_donnees_conso_debut": str(today - timedelta(days=6 * 365))},
            {"perim_donnees_conso_debut": str(today - timedelta(days=5 * 366))},
            {"nom_titulaire": "", "raison_sociale": ""},
            {"nom_titulaire": HOLDER_NAMES[0], "raison_sociale": HOLDER_NAMES[1]},
            {"id_pce": prospects[3].id_pce, "code_postal": postcode(prospects[3])},
            {"id_pce": prospects[7].id_pce, "code_postal": postcode(prospects[7])},
            {"courriel_titulaire": "client.example.org"},
            {"code_postal": "7500"},
            {"numero_telephone_mobile_titulaire": "0112345678"},
            {"perim_donnees_techniques": "oui"},
            {"perim_donnees_conso_debut": "", "perim_donnees_conso_fin": ""},
        ]
        bad_rows = [
            row(pce.id_pce, postcode(pce), 900 + n, today, **defect)
            for n, (pce, defect) in enumerate(zip(spare, defects, strict=True))
        ]
        for n, bad_row in enumerate(bad_rows):
            rows.insert(10 * n + 5, bad_row)
        # Line 1 is the header: row i is on line i + 2.
        case.bad_lines = [i + 2 for i, r in enumerate(rows) if any(r is b for b in bad_rows)]
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, COLUMNS, delimiter=";")
        writer.writeheader()
        writer.writerows(rows)
    return case


def point_cli_at(
    upstream: Upstream, monkeypatch: pytest.MonkeyPatch, calls_per_second: float
) -> dict[str, str]:
    """The ADICT_* variables of `gazoduc consents`, set for this test; returned for a child."""
    env = {
        "ADICT_BASE_URL": f"{upstream.server.base_url}/adict/v2",
        "ADICT_TOKEN_URL": f"{upstream.server.base_url}/oauth2/token",
        "ADICT_CLIENT_ID": CLIENT_ID,
        "ADICT_CLIENT_SECRET": CLIENT_SECRET,
        "ADICT_CALLS_PER_SECOND": str(calls_per_second),
        "GAZODUC_HOME": str(upstream.home),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env
