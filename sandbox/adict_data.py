"""The ADICT sandbox's portfolio and every data rule, as pure functions.

The portfolio is a function of (seed, size, anchor date); the data of (portfolio,
today). The app serves from here and tests use the same functions as ground truth.
All randomness is a hash of (PCE id, purpose, day), so any value can be computed
alone, in any order, with the same result in every process.
"""

from __future__ import annotations

import hashlib
import math
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import Enum, StrEnum
from functools import cached_property
from typing import Any

from sandbox.clock import PARIS

SUCCESS_TRAILER = {
    "code_statut_traitement": "0000000000",
    "message_retour_traitement": "L'opération s'est déroulée avec succès.",
}
# Assumed: the code and message of a stream that fails after HTTP 200 is unpublished.
ERROR_TRAILER = {
    "code_statut_traitement": "0000000002",
    "message_retour_traitement": "Une erreur technique est survenue.",
}
MALFORMED_PCE_ID = "12345ABC"


class DataType(StrEnum):
    INFORMATIVE = "informative"
    PUBLISHED = "published"
    INJECTION = "injection"
    CONTRACTUAL = "contractual"
    TECHNICAL = "technical"


def _nbsp(text: str) -> str:
    # The swagger writes this one message with non-breaking spaces: clients match it as is.
    return text.replace(" ", "\u00a0")


_PERIMETER = "Le périmètre des données auxquelles vous avez accès pour ce PCE ne couvre pas "


class Status(Enum):
    """Every `statut_restitution` sent under HTTP 200: (our code, the swagger's exact text)."""

    NOT_AUTHORIZED = ("1000", "Vous n'êtes pas autorisé à consulter les données de ce PCE.")
    NO_LONGER_AUTHORIZED = (
        "1001",
        "Vous n'êtes pas ou plus autorisé à consulter les données de ce PCE.",
    )
    EXPIRED = (
        "1002",
        "Votre droit d’accès sur ce PCE a expiré. Pour continuer à accéder aux données, vous "
        "devez faire une nouvelle demande d'accès et, le cas échéant, renouveler le "
        "consentement du titulaire.",
    )
    REVOKED_BY_HOLDER = (
        "1003",
        "Le client titulaire a révoqué son consentement, vous ne pouvez plus accéder aux "
        "données de ce PCE.",
    )
    PROOF_INVALID = (
        "1004",
        "La preuve de consentement fournie lors du contrôle opéré par GRDF n’est pas valide.",
    )
    OBSOLETE = ("1005", "GRDF a passé le droit d'accès à l'état obsolète.")
    MOVED_OUT = (
        "1006",
        "Le client semble avoir déménagé et n'est plus titulaire de ce PCE, vous ne pouvez "
        "donc plus accéder à ses données.",
    )
    OUT_OF_PERIMETER_INFORMATIVE = (
        "1010",
        _PERIMETER + "les données de consommations informatives.",
    )
    OUT_OF_PERIMETER_PUBLISHED = ("1011", _PERIMETER + "les données de consommations publiées.")
    OUT_OF_PERIMETER_INJECTION = ("1012", _PERIMETER + "les données d'injections publiées.")
    OUT_OF_PERIMETER_CONTRACTUAL = ("1013", _PERIMETER + "les données contractuelles.")
    OUT_OF_PERIMETER_TECHNICAL = ("1014", _PERIMETER + "les données techniques.")
    NO_DATA = ("1020", "Il n'y a pas de données correspondant à ce PCE sur la période demandée.")
    RETRY_PERIOD = (
        "1030",
        _nbsp(
            "Le serveur a rencontré une erreur lors de l'exécution de la requête. "
            "Veuillez retenter votre appel sur la période mentionnée ci-dessus."
        ),
    )

    @property
    def code(self) -> str:
        return self.value[0]

    @property
    def message(self) -> str:
        return self.value[1]

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True)
class TypeRule:
    flag: str  # the right's perim_donnees_* flag
    perimeter_dates: str | None  # prefix of the right's perimeter dates, if bounded in time
    out_of_perimeter: Status


TYPE_RULES = {
    DataType.INFORMATIVE: TypeRule(
        "perim_donnees_informatives", "perim_donnees_conso", Status.OUT_OF_PERIMETER_INFORMATIVE
    ),
    DataType.PUBLISHED: TypeRule(
        "perim_donnees_publiees", "perim_donnees_conso", Status.OUT_OF_PERIMETER_PUBLISHED
    ),
    DataType.INJECTION: TypeRule(
        "perim_donnees_publiees", "perim_donnees_inj", Status.OUT_OF_PERIMETER_INJECTION
    ),
    DataType.CONTRACTUAL: TypeRule(
        "perim_donnees_contractuelles", None, Status.OUT_OF_PERIMETER_CONTRACTUAL
    ),
    DataType.TECHNICAL: TypeRule(
        "perim_donnees_techniques", None, Status.OUT_OF_PERIMETER_TECHNICAL
    ),
}
_STATE_STATUS = {
    "A valider": Status.NOT_AUTHORIZED,
    "A revérifier": Status.NO_LONGER_AUTHORIZED,
    "Révoquée": Status.REVOKED_BY_HOLDER,
    "Refusée": Status.PROOF_INVALID,
    "Obsolète": Status.OBSOLETE,
}


# --- deterministic randomness and calendar ---------------------------------------------


def _digest(*parts: object, size: int = 8) -> bytes:
    return hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=size).digest()


def _unit(*parts: object) -> float:
    """A uniform number in [0, 1) fixed by `parts`."""
    return int.from_bytes(_digest(*parts)) / 2**64


def _pick(options: tuple[Any, ...], *parts: object) -> Any:
    return options[int(_unit(*parts) * len(options))]


def years_before(day: date, years: int) -> date:
    """Same month and day `years` earlier; 29 February becomes the 28th."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def gas_day_start(day: date) -> datetime:
    """A gas day D runs from 06:00 Europe/Paris on D to 06:00 on D+1."""
    return datetime(day.year, day.month, day.day, 6, tzinfo=PARIS)


def gas_day_hours(day: date) -> int:
    """23 on the spring DST day, 25 on the autumn one, else 24."""
    seconds = gas_day_start(day + timedelta(days=1)).timestamp() - gas_day_start(day).timestamp()
    return round(seconds / 3600)


def _month_start(day: date, months_later: int = 0) -> date:
    years, month = divmod(day.month - 1 + months_later, 12)
    return date(day.year + years, month + 1, 1)


# --- the portfolio -------------------------------------------------------------------


@dataclass(frozen=True)
class Pce:
    """A meter and the facts about it that its access right does not show."""

    index: int
    id_pce: str
    frequence: str  # "JJ" daily, "1M" / "MM" monthly, "6M" twice a year
    date_mes: date  # commissioning: no data before
    base_kwh: float  # mean daily energy, before season, noise and gas-day length
    town: int
    moved_out: bool = False
    injection: bool = False
    transient_error_day: date | None = None


@dataclass(frozen=True)
class Portfolio:
    seed: int
    anchor: date  # the "today" it was built for; its dates stay put when the clock moves
    pces: tuple[Pce, ...]
    rights: tuple[dict[str, Any], ...]  # as served by droits_acces, in order

    @cached_property
    def _by_id(self) -> dict[str, tuple[Pce | None, dict[str, Any]]]:
        pces = {pce.id_pce: pce for pce in self.pces}
        return {r["id_pce"]: (pces.get(r["id_pce"]), r) for r in self.rights}

    def find(self, id_pce: str) -> tuple[Pce | None, dict[str, Any] | None]:
        return self._by_id.get(id_pce, (None, None))


# Special cases at fixed indices (see build_portfolio); other indices draw a frequency.
_SPECIAL_FREQUENCY = ("JJ", "1M", "MM", "6M", "JJ", "JJ", "1M", "JJ")
_SPECIAL_FREQUENCY += ("JJ", "1M", "1M", "JJ", "MM", "1M", "JJ", "6M")
_TOWNS = (  # code postal, commune, rue, PITD id, PITD label
    ("75009", "PARIS", "RUE CONDORCET", "GD0001", "PARIS"),
    ("59100", "ROUBAIX", "ALLEE PIERRE AUGUSTE RENOIR", "GD0991", "LILLE"),
    ("37000", "TOURS", "RUE NATIONALE", "GD0420", "TOURS"),
    ("69003", "LYON", "COURS GAMBETTA", "GD0690", "LYON"),
    ("13008", "MARSEILLE", "AVENUE DU PRADO", "GD0130", "MARSEILLE"),
    ("67160", "WISSEMBOURG", "RUE DE LA REPUBLIQUE", "GD0067", "WISSEMBOURG"),
)
_SURNAMES = ("DUPONT", "MARTIN", "BERNARD", "PETIT", "DURAND", "LEROY", "MOREAU", "FOURNIER")
_FIRST_NAMES = (("M.", "JEAN"), ("MME", "CLAIRE"), ("M.", "PAUL"), ("MME", "SOPHIE"), ("M.", "LUC"))
_COMPANIES = ("SARL LA MENAGERE", "SAS BOULANGERIE DU PORT", "SCI LES TILLEULS", "HOTEL DU LAC")
_DAILY_KWH = {"JJ": (800, 20000), "1M": (25, 400), "MM": (1500, 30000), "6M": (20, 120)}


def build_portfolio(
    seed: int = 7, size: int = 20, anchor: date | None = None, include_malformed_pce: bool = True
) -> Portfolio:
    """`max(size, 16)` PCEs; indices 0-15 are the fixed cases below, the rest random Active.

    0 JJ, 1 1M, 2 MM (GI id), 3 6M: Active, full perimeter. 4 JJ commissioned on
    anchor-40 days. 5 JJ whose consumption perimeter starts on anchor-20 days.
    6 Révoquée by the holder. 7 Active but date_fin_droit_acces on anchor-30 days.
    8 Active, holder moved out. 9 perim_donnees_informatives "Faux". 10 "A valider".
    11 JJ whose informative block for anchor-3 days fails once per client.
    12 GI injection meter (AUTORISE_CONTRAT_INJECTION, no consumption perimeter).
    13 "Refusée". 14 "A revérifier". 15 "Obsolète". Random ones: 45 % JJ, 40 % 1M,
    8 % 6M, 7 % MM. With `include_malformed_pce`, one more Active right whose
    id_pce is malformed ends the rights list.
    """
    anchor = anchor or datetime.now(PARIS).date()
    pces = tuple(_make_pce(seed, index, anchor) for index in range(max(size, 16)))
    rights = [_make_right(seed, pce, anchor) for pce in pces]
    if include_malformed_pce:
        malformed = Pce(-1, MALFORMED_PCE_ID, "1M", years_before(anchor, 9), 50.0, 0)
        rights.append(_make_right(seed, malformed, anchor))
    return Portfolio(seed, anchor, pces, tuple(rights))


def _make_pce(seed: int, index: int, anchor: date) -> Pce:
    mix = ("JJ",) * 45 + ("1M",) * 40 + ("6M",) * 8 + ("MM",) * 7
    frequence = (
        _SPECIAL_FREQUENCY[index]
        if index < len(_SPECIAL_FREQUENCY)
        else _pick(mix, seed, index, "frequence")
    )
    digits = int(_unit(seed, index, "id") * 10**14)
    # Large monthly meters carry "GI" + 6-digit ids, like GRDF's.
    id_pce = f"GI{digits % 10**6:06d}" if frequence == "MM" else f"{digits:014d}"
    low, high = _DAILY_KWH[frequence]
    commissioned = anchor - timedelta(days=int(2400 + 2000 * _unit(seed, index, "mes")))
    return Pce(
        index=index,
        id_pce=id_pce,
        frequence=frequence,
        date_mes=anchor - timedelta(days=40) if index == 4 else commissioned,
        base_kwh=round(low + (high - low) * _unit(seed, index, "kwh"), 1),
        town=int(_unit(seed, index, "town") * len(_TOWNS)),
        moved_out=index == 8,
        injection=index == 12,
        transient_error_day=anchor - timedelta(days=3) if index == 11 else None,
    )


def _make_right(seed: int, pce: Pce, anchor: date) -> dict[str, Any]:
    def draw(purpose: str) -> float:
        return _unit(seed, pce.id_pce, purpose)

    def vrai(purpose: str) -> str:  # upstream writes the flag in any case
        return _pick(("Vrai", "VRAI", "vrai"), seed, pce.id_pce, purpose)

    start = years_before(anchor, 4) - timedelta(days=int(60 * draw("start")))
    end = anchor + timedelta(days=365 + int(60 * draw("end")))
    created = datetime.combine(start - timedelta(days=3), datetime.min.time())
    created += timedelta(seconds=int(86400 * draw("created")))
    surname = _pick(_SURNAMES, seed, pce.id_pce, "surname")
    civility, first = _pick(_FIRST_NAMES, seed, pce.id_pce, "first name")
    company = _pick(_COMPANIES, seed, pce.id_pce) if draw("company") < 0.3 else ""
    right: dict[str, Any] = {
        "id_droit_acces": str(uuid.UUID(bytes=_digest(seed, pce.id_pce, size=16), version=4)),
        "id_pce": pce.id_pce,
        "role_tiers": "AUTORISE CONTRAT FOURNITURE"  # spelt with spaces, as in GRDF's guide
        if draw("role") < 0.25
        else "AUTORISE_CONTRAT_FOURNITURE",
        "raison_sociale_du_tiers": "GAZODUC ENERGIE",
        "nom_titulaire": company or f"{civility} {surname} {first}",
        "raison_sociale_du_titulaire": company,
        "courriel_titulaire": f"{first.lower()}.{surname.lower()}@example.com",
        "numero_telephone_mobile_titulaire": f"06{int(draw('phone') * 10**8):08d}",
        "code_postal": _TOWNS[pce.town][0],
        "date_debut_droit_acces": start.isoformat(),
        "date_fin_droit_acces": end.isoformat(),
        "perim_donnees_conso_debut": (years_before(anchor, 6) - timedelta(days=5)).isoformat(),
        "perim_donnees_conso_fin": end.isoformat(),
        "perim_donnees_inj_debut": None,
        "perim_donnees_inj_fin": None,
        "perim_donnees_contractuelles": vrai("contractuelles"),
        "perim_donnees_techniques": vrai("techniques"),
        "perim_donnees_informatives": vrai("informatives"),
        "perim_donnees_publiees": vrai("publiees"),
        "date_creation": created.strftime("%Y-%m-%d %H:%M:%S"),
        "etat_droit_acces": "Active",
        "date_revocation": None,
        "source_revocation": None,
        "date_passage_a_obsolete": None,
        "source_passage_a_obsolete": None,
        # Not in the swagger, but in GRDF's own examples: clients must ignore extra keys.
        "date_fin_autorisation": f"{end.isoformat()} 00:00:00",
        "date_passage_a_refuse": None,
        "source_passage_a_refuse": None,
        "parcours": "TIERS_DIRECT" if draw("parcours") < 0.7 else "CLIENT_CONNECT",
        "statut_controle_preuve": None,
        "date_limite_transmission_preuve": None,
    }
    _apply_special_case(pce.index, right, anchor)
    return right


def _apply_special_case(index: int, right: dict[str, Any], anchor: date) -> None:
    def stamp(days_ago: int) -> str:
        return f"{anchor - timedelta(days=days_ago)} 10:12:00"

    match index:
        case 5:
            right["perim_donnees_conso_debut"] = (anchor - timedelta(days=20)).isoformat()
        case 6:
            right.update(etat_droit_acces="Révoquée", date_revocation=stamp(90))
            right["source_revocation"] = "Client titulaire"
        case 7:
            right["date_fin_droit_acces"] = (anchor - timedelta(days=30)).isoformat()
        case 9:
            right["perim_donnees_informatives"] = "faux"  # any case, as upstream
        case 10:
            right.update(etat_droit_acces="A valider", statut_controle_preuve="Preuve en attente")
            right["date_limite_transmission_preuve"] = (anchor + timedelta(days=30)).isoformat()
        case 12:  # a biomethane producer: injection perimeter only
            right["role_tiers"] = "AUTORISE_CONTRAT_INJECTION"
            right["perim_donnees_inj_debut"] = right["perim_donnees_conso_debut"]
            right["perim_donnees_inj_fin"] = right["perim_donnees_conso_fin"]
            right.update(perim_donnees_conso_debut=None, perim_donnees_conso_fin=None)
        case 13:
            right.update(etat_droit_acces="Refusée", date_passage_a_refuse=stamp(60))
            right["source_passage_a_refuse"] = "GRDF"
            right["statut_controle_preuve"] = "Preuve Vérifiée KO"
        case 14:
            right.update(etat_droit_acces="A revérifier")
            right["statut_controle_preuve"] = "Preuve en cours de vérification"
        case 15:
            right.update(etat_droit_acces="Obsolète", date_passage_a_obsolete=stamp(120))
            right["source_passage_a_obsolete"] = "Le client n'est plus titulaire de ce PCE"


def filter_rights(
    rights: tuple[dict[str, Any], ...], filters: Mapping[str, list[str]]
) -> list[dict[str, Any]]:
    """POST droits_acces: keep rights matching every given list (roles compared sans spaces)."""

    def normal(key: str, value: Any) -> Any:
        return value.replace(" ", "_") if key == "role_tiers" and value else value

    wanted = {key: {normal(key, v) for v in values} for key, values in filters.items() if values}
    return [r for r in rights if all(normal(k, r.get(k)) in vs for k, vs in wanted.items())]


# --- who may see what ------------------------------------------------------------------


def access_status(
    pce: Pce | None, right: Mapping[str, Any] | None, data_type: DataType, today: date
) -> Status | None:
    """Why this PCE's data of `data_type` cannot be served today, or None if it can."""
    if pce is None or right is None:
        return Status.NOT_AUTHORIZED
    if state_status := _STATE_STATUS.get(right["etat_droit_acces"]):
        return state_status
    if today > date.fromisoformat(right["date_fin_droit_acces"]):
        return Status.EXPIRED
    if today < date.fromisoformat(right["date_debut_droit_acces"]):
        return Status.NOT_AUTHORIZED
    if pce.moved_out:
        return Status.MOVED_OUT
    rule = TYPE_RULES[data_type]
    bounded = rule.perimeter_dates is None or right[f"{rule.perimeter_dates}_debut"] is not None
    if str(right[rule.flag]).strip().lower() != "vrai" or not bounded:
        return rule.out_of_perimeter
    return None


def eligible_pces(portfolio: Portfolio, data_type: DataType | str, today: date) -> list[str]:
    """PCEs whose calls pass the right checks: Active, today within the right's dates,
    data type in the perimeter, holder still in place. Some may still have no data."""
    return [
        pce.id_pce
        for pce in portfolio.pces
        if access_status(pce, portfolio.find(pce.id_pce)[1], DataType(data_type), today) is None
    ]


# --- values of one gas day -------------------------------------------------------------


def definitive_energy(pce: Pce, day: date) -> int:
    """Definitive energy (kWh) of gas day `day`: base x season x noise x hours/24.

    Heating peaks mid-January (x1.6) and bottoms mid-July (x0.4); biomethane
    injection has no season. Noise is uniform in [0.85, 1.15).
    """
    season = 1.0
    if not pce.injection:
        season += 0.6 * math.cos(2 * math.pi * (day - date(day.year, 1, 15)).days / 365.25)
    noise = 0.85 + 0.3 * _unit(pce.id_pce, "energy", day)
    return round(pce.base_kwh * season * noise * gas_day_hours(day) / 24)


def restatement_factor(pce: Pce, day: date) -> float:
    """Provisional energy / definitive energy, in [0.92, 1.08)."""
    return 0.92 + 0.16 * _unit(pce.id_pce, "restatement", day)


def is_definitive(day: date, today: date) -> bool:
    """Informative data of `day` is definitive from the 5th of the following month."""
    return today >= _month_start(day, 1).replace(day=5)


def informative_energy(pce: Pce, day: date, today: date) -> tuple[int, str]:
    """(energie, statut_conso) of an informative day as served on `today`."""
    energy = definitive_energy(pce, day)
    if is_definitive(day, today):
        return energy, "Définitive"
    return round(energy * restatement_factor(pce, day)), "Provisoire"


def coefficients(pce: Pce, day: date) -> dict[str, float | None]:
    """PTA fixed per meter, PCS per month; 1M meters only get the product (GRDF's guide)."""
    pta = round(0.97 + 0.02 * _unit(pce.id_pce, "pta"), 4)
    pcs = round(11.25 + 0.3 * _unit(pce.id_pce, "pcs", day.year, day.month), 3)
    if pce.frequence == "1M":
        return {"coeff_pta": None, "valeur_pcs": None, "coeff_conversion": round(pta * pcs, 3)}
    return {"coeff_pta": pta, "valeur_pcs": pcs, "coeff_conversion": round(pta * pcs, 3)}


def _volume(pce: Pce, day: date, energy: int) -> float:
    return round(energy / coefficients(pce, day)["coeff_conversion"], 3)


_INDEX_SERIES: dict[Pce, list[float]] = {}
_INDEX_LOCK = threading.Lock()


def raw_index(pce: Pce, day: date) -> float:
    """Meter index (m3) at the start of gas day `day`: definitive volumes since commissioning."""
    offset = (day - pce.date_mes).days
    with _INDEX_LOCK:
        series = _INDEX_SERIES.setdefault(pce, [round(1000 * _unit(pce.id_pce, "index0"), 3)])
        while len(series) <= offset:
            past = pce.date_mes + timedelta(days=len(series) - 1)
            series.append(round(series[-1] + _volume(pce, past, definitive_energy(pce, past)), 3))
    return series[max(offset, 0)]


# --- blocks ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """The requested gas days, both ends included, and the request's `periode` echo."""

    first: date
    last: date
    echo: dict[str, str | None] = field(
        default_factory=lambda: {"valeur": None, "date_debut": None, "date_fin": None}
    )


def _grain(pce: Pce, data_type: DataType) -> str:
    if data_type is DataType.INFORMATIVE or (pce.frequence == "JJ" and not pce.injection):
        return "day"
    return "half" if pce.frequence == "6M" else "month"


def _period(day: date, grain: str) -> tuple[date, date]:
    if grain == "day":
        return day, day
    months = 6 if grain == "half" else 1
    start = date(day.year, 1 if day.month <= 6 else 7, 1) if grain == "half" else day.replace(day=1)
    return start, _month_start(start, months) - timedelta(days=1)


def _horizon(pce: Pce, data_type: DataType, today: date) -> date | None:
    """Last gas day available today: informative JJ at D+1, 1M at D+3, none for 6M/MM;
    published JJ at D+2, periodic meters once their month or half year is over."""
    if data_type is DataType.INFORMATIVE:
        lag = {"JJ": 1, "1M": 3}.get(pce.frequence)
        return None if lag is None else today - timedelta(days=lag)
    grain = _grain(pce, data_type)
    if grain == "day":
        return today - timedelta(days=2)
    return _period(today, grain)[0] - timedelta(days=1)


def _block_days(
    pce: Pce, right: Mapping[str, Any], data_type: DataType, window: Window, today: date
) -> Iterator[tuple[date, date]]:
    """(first, last) gas days of each block intersecting the window, clipped to the
    perimeter dates and the commissioning date (a block is never cut by the window)."""
    horizon = _horizon(pce, data_type, today)
    prefix = TYPE_RULES[data_type].perimeter_dates
    if horizon is None or prefix is None:
        return
    data_first = max(pce.date_mes, date.fromisoformat(right[f"{prefix}_debut"]))
    data_last = min(horizon, date.fromisoformat(right[f"{prefix}_fin"]))
    day, grain = max(window.first, data_first), _grain(pce, data_type)
    while day <= min(window.last, data_last):
        start, end = _period(day, grain)
        yield max(start, data_first), min(end, data_last)
        day = end + timedelta(days=1)


def _quantities(pce: Pce, first: date, last: date, today: date, data_type: DataType) -> dict:
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    if data_type is DataType.INFORMATIVE:
        energy, statut = informative_energy(pce, first, today)
        volume = _volume(pce, first, energy)
    else:
        energies = [definitive_energy(pce, d) for d in days]
        energy, statut = sum(energies), "Définitive"
        volume = round(sum(_volume(pce, d, e) for d, e in zip(days, energies, strict=True)), 3)
    estimated = _unit(pce.id_pce, "estimated", first, last) < 0.08
    return {"energie": energy, "statut": statut, "volume_brut": volume, "estimated": estimated}


def _reading(pce: Pce, when: date, index: float, published: bool, end: bool, q: dict) -> dict:
    stamp = gas_day_start(when).isoformat()
    pta = coefficients(pce, when)["coeff_pta"] or 1.0
    converted = (  # only JJ meters have a volume converter
        {"valeur_index": round(index * pta, 3), "horodate_Index": stamp}
        if pce.frequence == "JJ"
        else {"valeur_index": None, "horodate_Index": None}
    )
    suffix = "fin" if end else "debut"
    reading: dict[str, Any] = {"date_releve": stamp}
    if published:
        reading["raison_releve"], reading["libelle_raison_releve"] = "RNO", "Relevé normal"
        reading["qualite_releve"] = "Estimation" if q["estimated"] else "Mesure"
        reading["statut_releve"] = "Normal"
    reading[f"index_brut_{suffix}"] = {"valeur_index": index, "horodate_Index": stamp}
    reading[f"index_converti_{suffix}"] = converted
    return reading


def data_block(
    pce: Pce, data_type: DataType, first: date, last: date, window: Window, today: date
) -> dict[str, Any]:
    """One block of a consumption or injection stream, every swagger key present."""
    q = _quantities(pce, first, last, today, data_type)
    coeff = coefficients(pce, first)
    start, end = gas_day_start(first), gas_day_start(last + timedelta(days=1))
    index = raw_index(pce, first)
    published = data_type is not DataType.INFORMATIVE
    # Injection blocks mirror consumption ones under other names (swagger Model_5).
    injection = data_type is DataType.INJECTION
    kind, word = ("injection", "injection") if injection else ("consommation", "conso")
    measure = {
        f"date_debut_{kind}": start.isoformat(),
        f"date_fin_{kind}": end.isoformat(),
        "flag_retour_zero": False,
        "volume_brut": q["volume_brut"],
        "coeff_calcul": coeff,
        "volume_converti": round(q["volume_brut"] * coeff["coeff_pta"], 3)
        if pce.frequence == "JJ"
        else None,
        "energie": q["energie"],
        f"type_qualif_{word}": "Estimé" if q["estimated"] else "Mesuré",
        "sens_flux_gaz": "Production" if kind == "injection" else "Consommation",
        f"statut_{word}": q["statut"],
        "journee_gaziere": first.isoformat() if first == last else None,
        f"type_{word}": "Publiée" if published else "Informative",
    }
    block: dict[str, Any] = {
        "pce": {"id_pce": pce.id_pce},
        "periode": window.echo,
        "releve_debut": _reading(pce, first, index, published, False, q),
        "releve_fin": _reading(
            pce, last + timedelta(days=1), round(index + q["volume_brut"], 3), published, True, q
        ),
        kind: measure,
    }
    if published:
        multi_day = first != last
        block["bordereau_publication"] = {
            "date_debut_bordereau": start.isoformat() if multi_day else None,
            "date_fin_bordereau": end.isoformat() if multi_day else None,
            "nb_jour_gazier": (last - first).days + 1 if multi_day else None,
        }
    block["statut_restitution"] = None
    return block


def status_block(
    id_pce: str, data_type: DataType, status: Status, echo: Mapping[str, Any]
) -> dict[str, Any]:
    """A block without data: why, in `statut_restitution` (HTTP 200 all the same)."""
    block: dict[str, Any] = {"pce": {"id_pce": id_pce}, "periode": dict(echo)}
    block.update(releve_debut=None, releve_fin=None)
    block["injection" if data_type is DataType.INJECTION else "consommation"] = None
    if data_type is not DataType.INFORMATIVE:
        block["bordereau_publication"] = None
    block["statut_restitution"] = status.to_json()
    return block


def stream_blocks(
    portfolio: Portfolio,
    id_pce: str,
    data_type: DataType,
    window: Window,
    today: date,
    fails_now: Callable[[Pce, date], bool] = lambda pce, day: False,
) -> Iterator[dict[str, Any]]:
    """Blocks of one consumption or injection call, lazily, without the trailer.

    A PCE's `transient_error_day` block is replaced by a "retry on this period"
    block whenever `fails_now(pce, day)` says so (the app: once per client).
    """
    pce, right = portfolio.find(id_pce)
    if status := access_status(pce, right, data_type, today):
        yield status_block(id_pce, data_type, status, window.echo)
        return
    assert pce is not None and right is not None
    empty = True
    for first, last in _block_days(pce, right, data_type, window, today):
        empty = False
        if first == pce.transient_error_day and fails_now(pce, first):
            retry = {"valeur": None, "date_debut": str(first), "date_fin": str(last + timedelta(1))}
            yield status_block(id_pce, data_type, Status.RETRY_PERIOD, retry)
        else:
            yield data_block(pce, data_type, first, last, window, today)
    if empty:
        yield status_block(id_pce, data_type, Status.NO_DATA, window.echo)


# --- contractual and technical records ---------------------------------------------------


def contractual_data(pce: Pce) -> dict[str, Any]:
    """CAR = a year of base energy; tariff and profile follow it; CJA only for JJ."""
    car = round(pce.base_kwh * 365)
    tariff = "T1" if car < 6000 else "T2" if car < 300_000 else "T3" if car < 5_000_000 else "T4"
    profile = min(6, max(1, int(math.log10(max(car, 10))) - 1))
    return {
        "car": car,
        "cja": round(pce.base_kwh * 2.5) if pce.frequence == "JJ" else 0,
        "profil": {"profil_type_actuel": f"P01{profile}"},
        "tarif_acheminement": tariff,
        "date_mes": pce.date_mes.isoformat(),
    }


def technical_data(pce: Pce) -> dict[str, Any]:
    postcode, town, street, pitd, pitd_label = _TOWNS[pce.town]
    return {
        "situation_compteur": {
            "numero_rue": str(1 + int(_unit(pce.id_pce, "street") * 120)),
            "nom_rue": street,
            "complement_adresse": None,
            "code_postal": postcode,
            "commune": town,
        },
        "caracteristiques_compteur": {
            "frequence": pce.frequence,
            "client_sensible_mig": "Oui" if _unit(pce.id_pce, "mig") < 0.1 else "Non",
        },
        "pitd": {"identifiant_pitd": pitd, "libelle_pitd": pitd_label},
    }


def record_response(
    portfolio: Portfolio, id_pce: str, data_type: DataType, today: date
) -> dict[str, Any]:
    """The one JSON object of donnees_contractuelles or donnees_techniques."""
    pce, right = portfolio.find(id_pce)
    key = f"donnees_{'contractuelles' if data_type is DataType.CONTRACTUAL else 'techniques'}"
    if status := access_status(pce, right, data_type, today):
        return {"pce": {"id_pce": id_pce}, key: None, "statut_restitution": status.to_json()}
    assert pce is not None
    build = contractual_data if data_type is DataType.CONTRACTUAL else technical_data
    return {"pce": {"id_pce": id_pce}, key: build(pce), "statut_restitution": None}


# --- ground truth for tests ----------------------------------------------------------------


def expected_informative(
    portfolio: Portfolio, client_id: str, day_from: date, day_to: date, today: date
) -> list[dict[str, Any]]:
    """Rows an ideal client holds after landing informative data for [day_from, day_to]
    on `today`: every eligible PCE's available days, clipped to the 3-year history,
    the perimeter and commissioning, including the once-failing day (it retries).

    Every client known to the sandbox holds the same rights, so `client_id` does
    not change the answer; it is in the signature because the upstream's does.
    """
    window = Window(max(day_from, years_before(today, 3)), day_to)
    rows = []
    for id_pce in eligible_pces(portfolio, DataType.INFORMATIVE, today):
        pce, right = portfolio.find(id_pce)
        assert pce is not None and right is not None
        for day, _ in _block_days(pce, right, DataType.INFORMATIVE, window, today):
            energy, statut = informative_energy(pce, day, today)
            row = {"id_pce": id_pce, "journee_gaziere": day, "energie": energy}
            rows.append(row | {"statut_conso": statut})
    return rows


def expected_published(
    portfolio: Portfolio,
    client_id: str,
    day_from: date,
    day_to: date,
    today: date,
    data_type: DataType | str = DataType.PUBLISHED,
) -> list[dict[str, Any]]:
    """Published blocks (consumption, or injection with `data_type="injection"`) that
    intersect [day_from, day_to] (clipped to the 5-year history) on `today`.

    Rows: id_pce, date_debut_consommation = first gas day, date_fin_consommation =
    the date of the block's end timestamp (last gas day + 1, 06:00), energie.
    """
    data_type = DataType(data_type)
    window = Window(max(day_from, years_before(today, 5)), day_to)
    rows = []
    for id_pce in eligible_pces(portfolio, data_type, today):
        pce, right = portfolio.find(id_pce)
        assert pce is not None and right is not None
        for first, last in _block_days(pce, right, data_type, window, today):
            days = (first + timedelta(days=n) for n in range((last - first).days + 1))
            energy = sum(definitive_energy(pce, day) for day in days)
            end = last + timedelta(days=1)
            row = {"id_pce": id_pce, "date_debut_consommation": first}
            rows.append(row | {"date_fin_consommation": end, "energie": energy})
    return rows
