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
from dataclasses import dataclass, field, replace
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
# Ids no meter has, that a rights list may still carry: letters, a trailing newline (which
# a lax `^...$` check lets through), 14 digits that are not ASCII (Arabic-Indic).
MALFORMED_PCE_IDS = (
    "12345ABC",
    "12345678901234\n",
    "\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669\u0660\u0661\u0662\u0663\u0664",
)


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


# --- GDA: the answers of the access-rights write resources ------------------------------
#
# Every answer of the three write resources, as (HTTP status, code, message). Messages
# are the Swagger's exact text (its typographic apostrophes, and its "Le demande" typo);
# codes are ours but for the Swagger's own examples (0000000002 on a 201, 1000000026 a
# missing holder, 1000000013 a revoked right, 1000000006 an unknown PCE, 1000000001 an
# unknown right, 2000000003 no proof asked).


class Gda(Enum):
    # PUT /pce/{id_pce}/droit_acces
    DECLARED = (
        201,
        "0000000002",
        "La demande d'accès est en attente de la validation du titulaire du PCE.",
    )
    NO_ROLE = (400, "1000000020", "Votre rôle dans la demande d'accès n'est pas renseigné.")
    NO_HOLDER = (400, "1000000026", "Le nom ou la raison sociale du titulaire doit être renseigné.")
    BOTH_HOLDERS = (
        400,
        "1000000027",
        "Seul le nom ou la raison sociale du titulaire doit être renseigné.",
    )
    BAD_END_FORMAT = (400, "1000000028", "Le format de la date de fin d'accès est incorrect.")
    NO_PERIMETER = (400, "1000000029", "Le périmètre d'accès doit être renseigné.")
    BAD_EMAIL = (400, "1000000030", "Le format du courriel du titulaire est incorrect.")
    NO_POSTCODE = (400, "1000000031", "Le code postal n'est pas renseigné.")
    NO_EMAIL = (400, "1000000032", "Le courriel du titulaire n'est pas renseigné.")
    FLAG_CONTRACTUAL = (
        400,
        "1000000033",
        "Le périmètre d'accès aux données contractuelles doit être renseigné à Vrai ou Faux.",
    )
    NO_CONSO_START = (
        400,
        "1000000034",
        "La date de début du périmètre relatif aux données de consommation est obligatoire et doit"
        " être renseignée au format YYYY-MM-DD.",
    )
    FLAG_TECHNICAL = (
        400,
        "1000000035",
        "Le périmètre d'accès aux données techniques doit être renseigné à Vrai ou Faux.",
    )
    FLAG_PUBLISHED = (
        400,
        "1000000036",
        "Le périmètre d'accès aux données publiées doit être renseigné à Vrai ou Faux.",
    )
    FLAG_INFORMATIVE = (
        400,
        "1000000037",
        "Le périmètre d'accès aux données informatives doit être renseigné à Vrai ou Faux.",
    )
    NO_CONSO_END = (
        400,
        "1000000038",
        "La date de fin du périmètre relatif aux données de consommation est obligatoire et doit "
        "être renseignée au format YYYY-MM-DD.",
    )
    BAD_PHONE = (
        400,
        "1000000039",
        "Le numéro de téléphone mobile du titulaire renseigné n'est pas correctement formaté.",
    )
    BAD_CONSO_START = (
        400,
        "1000000040",
        "La date de début du périmètre relatif aux données de consommation doit être renseignée au"
        " format YYYY-MM-DD ou null ou vide.",
    )
    BAD_CONSO_END = (
        400,
        "1000000041",
        "La date de fin du périmètre relatif aux données de consommation doit être renseignée au "
        "format YYYY-MM-DD ou null ou vide.",
    )
    NO_START = (
        400,
        "1000000042",
        "La date de début du droit d’accès est obligatoire et doit être renseignée au format "
        "YYYY-MM-DD.",
    )
    NO_END = (
        400,
        "1000000043",
        "La date de fin du droit d’accès est obligatoire et doit être renseignée au format "
        "YYYY-MM-DD.",
    )
    BAD_POSTCODE = (400, "1000000044", "Le format du code postal est incorrect.")
    BAD_PCE = (400, "1000000045", "Le format du PCE est incorrect.")
    UNKNOWN_PCE = (404, "1000000006", "Le PCE est inconnu.")
    EXISTS = (409, "1000000010", "Un droit d'accès existe déjà.")
    CONTRACT_ENDED = (409, "1000000011", "Le contrat de fourniture de gaz est échu.")
    POSTCODE_MISMATCH = (409, "1000000012", "Le code postal ne correspond pas à l'adresse du PCE.")
    REVOKED = (409, "1000000013", "Le droit d'accès est révoqué.")
    INCONSISTENT = (409, "1000000014", "La demande d'accès est incohérente.")
    PENDING = (
        409,
        "1000000015",
        "La demande d'accès est en attente de la validation du titulaire du PCE.",
    )
    END_BEFORE_TODAY = (
        409,
        "1000000016",
        "La date de fin du droit d’accès doit être supérieure ou égale à la date du jour.",
    )
    START_AFTER_TODAY = (
        409,
        "1000000017",
        "La date de début du droit d’accès doit être inférieure ou égale à la date du jour.",
    )
    CONSO_START_AFTER_TODAY = (
        409,
        "1000000018",
        "La date de début du périmètre relatif aux données de consommation doit être inférieure ou"
        " égale à la date du jour.",
    )
    CONSO_END_BEFORE_START = (
        409,
        "1000000019",
        "La date de fin du périmètre relatif aux données de consommation doit être supérieure ou "
        "égale à la date de début du périmètre relatif aux données de consommation.",
    )
    CONSO_END_AFTER_RIGHT = (
        409,
        "1000000021",
        "La date de fin du périmètre relatif aux données de consommation doit être inférieure ou "
        "égale à la date de fin du droit d’accès.",
    )
    # PATCH /droit_acces/{id_droit_acces}
    SUCCESS = (200, "0000000000", "L'opération s'est déroulée avec succès.")  # PATCH, PUT preuves
    NO_SUCH_RIGHT = (404, "1000000001", "Aucun droit d'accès trouvé.")
    REVOKE_INCOHERENT = (409, "2000000001", "Le demande est incohérente.")
    REVOKE_NOTHING = (409, "2000000002", "Le droit d'accès à révoquer n'existe pas.")
    # PUT /droit_acces/{id_droit_acces}/preuves
    PROOFS_MALFORMED = (400, "1000000000", "La forme de la requête est incorrecte.")
    TOO_MANY_PROOFS = (409, "2000000004", "Le nombre maximal autorisé de 3 preuves est dépassé.")
    PROOF_FORMAT = (
        409,
        "2000000005",
        "Une ou plusieurs preuves ne possèdent pas un format autorisé.",
    )
    NO_PROOF_ASKED = (409, "2000000003", "GRDF ne demande pas de preuve sur ce droit d'accès.")
    PROOF_CONTRACT_ENDED = (409, "2000000006", "Le contrat de fourniture de gaz est échu.")
    PROOF_TOO_LARGE = (
        409,
        "2000000007",
        "La taille maximale autorisée de 4Mo d’une ou plusieurs preuves est dépassée.",
    )
    PROOF_CORRUPTED = (
        409,
        "2000000008",
        "Le traitement n'a pu aboutir car une ou plusieurs preuves sont corrompues et présentent "
        "un risque de sécurité.",
    )

    @property
    def status(self) -> int:
        return self.value[0]

    def to_json(self) -> dict[str, str]:
        return {"code_statut_traitement": self.value[1], "message_retour_traitement": self.value[2]}


class GdaRefusal(ValueError):
    """A declaration, revocation or proof the Swagger says GRDF refuses, and how."""

    def __init__(self, answer: Gda) -> None:
        super().__init__(answer.value[2])
        self.answer = answer


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
    # Meters GRDF knows that we hold no right on yet: what a customers file declares.
    prospects: tuple[Pce, ...] = ()

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
    seed: int = 7,
    size: int = 20,
    anchor: date | None = None,
    include_malformed_pce: bool = True,
    prospects: int = 0,
) -> Portfolio:
    """`max(size, 16)` PCEs; indices 0-15 are the fixed cases below, the rest random Active.

    0 JJ, 1 1M, 2 MM (GI id), 3 6M: Active, full perimeter. 4 JJ commissioned on
    anchor-40 days. 5 JJ whose consumption perimeter starts on anchor-20 days.
    6 Révoquée by the holder. 7 Active but date_fin_droit_acces on anchor-30 days.
    8 Active, holder moved out. 9 perim_donnees_informatives "Faux". 10 "A valider".
    11 JJ whose informative block for anchor-3 days fails once per client.
    12 GI injection meter (AUTORISE_CONTRAT_INJECTION, no consumption perimeter).
    13 "Refusée". 14 "A revérifier". 15 "Obsolète". Random ones: 45 % JJ, 40 % 1M,
    8 % 6M, 7 % MM. With `include_malformed_pce`, Active rights whose id_pce is
    malformed (MALFORMED_PCE_IDS) end the rights list. `prospects` more meters exist without a
    right (indices from PROSPECT_INDEX): the ones a customers file can declare.
    """
    anchor = anchor or datetime.now(PARIS).date()
    pces = tuple(_make_pce(seed, index, anchor) for index in range(max(size, 16)))
    rights = [_make_right(seed, pce, anchor) for pce in pces]
    if include_malformed_pce:
        for malformed_id in MALFORMED_PCE_IDS:
            malformed = Pce(-1, malformed_id, "1M", years_before(anchor, 9), 50.0, 0)
            rights.append(_make_right(seed, malformed, anchor))
    unclaimed = tuple(_make_pce(seed, PROSPECT_INDEX + n, anchor) for n in range(prospects))
    return Portfolio(seed, anchor, pces, tuple(rights), unclaimed)


PROSPECT_INDEX = 100_000  # far above any portfolio size: prospects never share an id


def postcode(pce: Pce) -> str:
    """The postcode of the meter's address (what a declaration must name)."""
    return _TOWNS[pce.town][0]


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


# --- GRDF's side of consents: declared rights, validation e-mails, proofs ----------------

PROOF_ASKED = "Preuve en attente"  # a control campaign asks for this right's proofs
PROOF_TO_CHECK = "Preuve à vérifier"  # seed 003: what any transmission turns it into
PROOF_OPEN = (PROOF_ASKED, PROOF_TO_CHECK)  # "1er envoi" or "> 1er envoi"
MAX_PROOFS = 3  # per call (seed 003, "Transmettre preuves")
MAX_PROOF_BYTES = 4 * 1024 * 1024  # "4Mo" per file
PROOF_EXTENSIONS = frozenset({"pdf", "mp3", "mp4", "csv", "txt", "zip", "xlsx", "pptx", "docx"})
_EXECUTABLE_MAGIC = (b"MZ", b"\x7fELF", b"#!")  # what GRDF's scan calls a security risk
ONE_EMAIL_SECONDS = 60  # seed 003: declarations <= 60 s apart share one validation e-mail
PROOF_DEADLINE_DAYS = 28  # "réponse sous 20 jours ouvrés": four calendar weeks
THIRD_PARTY = "GAZODUC ENERGIE"
REVOKED_BY_US = "Tiers"  # assumed: the Swagger does not list source_revocation's values


@dataclass
class ValidationEmail:
    """Email B of seed 003's annex: one link for every right declared in one burst."""

    number: int
    to: str
    right_ids: list[str]
    last_declared_at: datetime
    decision: str | None = None  # "valider" or "refuser" once the holder answered

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "to": self.to,
            "id_droit_acces": list(self.right_ids),
            "last_declared_at": self.last_declared_at.isoformat(),
            "decision": self.decision,
        }


@dataclass(frozen=True)
class Proof:
    filename: str
    content: bytes


class ConsentDesk:
    """The life of every right: declared "A valider", validated by its holder's e-mail
    (a control route stands for the click), revoked for good, asked for proofs.

    Rights are the portfolio's dicts, changed in place; a declaration makes a new
    Portfolio (one more right, the meter added) that the data routes then serve from.
    """

    def __init__(self, portfolio: Portfolio) -> None:
        self.portfolio = portfolio
        self.emails: list[ValidationEmail] = []
        self.proofs: dict[str, list[str]] = {}  # filenames received, per right
        self._meters = {p.id_pce: p for p in (*portfolio.pces, *portfolio.prospects)}
        self._lock = threading.Lock()

    def declare(self, id_pce: str, body: Mapping[str, Any], now: datetime) -> dict[str, Any]:
        """A new right "A valider" (the 201 body's right part), or GdaRefusal."""
        with self._lock:
            pce = self._meters.get(id_pce)
            if pce is None:
                raise GdaRefusal(Gda.UNKNOWN_PCE)
            if str(body["code_postal"]).strip() != postcode(pce):
                raise GdaRefusal(Gda.POSTCODE_MISMATCH)
            if pce.moved_out:
                raise GdaRefusal(Gda.CONTRACT_ENDED)
            self._refuse_if_held(self.portfolio.find(id_pce)[1], now.date())
            right = self._new_right(pce, body, now)
            pces = self.portfolio.pces
            if pce not in pces:
                pces = (*pces, pce)
            self.portfolio = replace(
                self.portfolio, pces=pces, rights=(*self.portfolio.rights, right)
            )
            self._send_validation_email(right, now)
            return right

    @staticmethod
    def _refuse_if_held(right: Mapping[str, Any] | None, today: date) -> None:
        """A meter holds one right of ours: a new one only renews an ended right."""
        if right is None:
            return
        state = right["etat_droit_acces"]
        if state == "Révoquée":
            raise GdaRefusal(Gda.REVOKED)
        if state == "A valider":
            raise GdaRefusal(Gda.PENDING)
        expired = date.fromisoformat(right["date_fin_droit_acces"]) < today
        if state in ("Active", "A revérifier") and not expired:
            raise GdaRefusal(Gda.EXISTS)

    def _new_right(self, pce: Pce, body: Mapping[str, Any], now: datetime) -> dict[str, Any]:
        def sent(key: str) -> Any:
            value = body.get(key)
            return value.strip() if isinstance(value, str) and value.strip() else None

        count = sum(1 for r in self.portfolio.rights if r["id_pce"] == pce.id_pce)
        digest = _digest(self.portfolio.seed, pce.id_pce, "declared", count, size=16)
        return {
            "id_droit_acces": str(uuid.UUID(bytes=digest, version=4)),
            "id_pce": pce.id_pce,
            "role_tiers": sent("role_tiers"),
            "raison_sociale_du_tiers": THIRD_PARTY,
            "nom_titulaire": sent("nom_titulaire") or sent("raison_sociale"),
            "raison_sociale_du_titulaire": sent("raison_sociale") or "",
            "courriel_titulaire": sent("courriel_titulaire"),
            "numero_telephone_mobile_titulaire": sent("numero_telephone_mobile_titulaire"),
            "code_postal": sent("code_postal"),
            **{key: sent(key) for key in _DECLARED_AS_SENT},
            **{key: sent(key).capitalize() for key in _DECLARED_FLAGS},
            "date_creation": now.strftime("%Y-%m-%d %H:%M:%S"),
            "etat_droit_acces": "A valider",
            "date_revocation": None,
            "source_revocation": None,
            "date_passage_a_obsolete": None,
            "source_passage_a_obsolete": None,
            "date_passage_a_refuse": None,
            "source_passage_a_refuse": None,
            "parcours": "TIERS_DIRECT",
            "statut_controle_preuve": None,
            "date_limite_transmission_preuve": None,
        }

    def _send_validation_email(self, right: Mapping[str, Any], now: datetime) -> None:
        to = str(right["courriel_titulaire"]).lower()
        for email in reversed(self.emails):
            if email.to == to and email.decision is None:
                if (now - email.last_declared_at).total_seconds() <= ONE_EMAIL_SECONDS:
                    email.right_ids.append(right["id_droit_acces"])
                    email.last_declared_at = now
                    return
                break
        number = len(self.emails) + 1
        self.emails.append(ValidationEmail(number, to, [right["id_droit_acces"]], now))

    def answer_email(self, number: int, decision: str, now: datetime) -> list[str]:
        """The holder clicks the link: every right still waiting becomes Active, or is
        revoked by the holder (seed 003: a negative answer gives "Révoquée")."""
        if decision not in ("valider", "refuser"):
            raise ValueError("decision must be 'valider' or 'refuser'")
        with self._lock:
            email = self.emails[number - 1]
            email.decision = decision
            changed = []
            for right in self._rights(email.right_ids):
                if right["etat_droit_acces"] != "A valider":
                    continue
                if decision == "valider":
                    right["etat_droit_acces"] = "Active"
                else:
                    right.update(etat_droit_acces="Révoquée", source_revocation="Client titulaire")
                    right["date_revocation"] = now.strftime("%Y-%m-%d %H:%M:%S")
                changed.append(right["id_droit_acces"])
            return changed

    def revoke(self, id_droit_acces: str, now: datetime) -> None:
        """PATCH droit_acces: final. Only an AUTORISE third party revokes (Swagger)."""
        with self._lock:
            right = self._right(id_droit_acces)
            if right is None:
                raise GdaRefusal(Gda.NO_SUCH_RIGHT)
            state = right["etat_droit_acces"]
            if state == "Révoquée" or not str(right["role_tiers"]).startswith("AUTORISE"):
                raise GdaRefusal(Gda.REVOKE_INCOHERENT)
            if state in ("Refusée", "Obsolète"):
                raise GdaRefusal(Gda.REVOKE_NOTHING)
            right.update(etat_droit_acces="Révoquée", source_revocation=REVOKED_BY_US)
            right["date_revocation"] = now.strftime("%Y-%m-%d %H:%M:%S")

    def receive_proofs(self, id_droit_acces: str, proofs: list[Proof], today: date) -> None:
        """PUT preuves: the files first (count, size, format, safety), then the right."""
        check_proof_files(proofs)
        with self._lock:
            right = self._right(id_droit_acces)
            if right is None or right["statut_controle_preuve"] not in PROOF_OPEN:
                raise GdaRefusal(Gda.NO_PROOF_ASKED)
            pce = self._meters.get(right["id_pce"])
            ended = date.fromisoformat(right["date_fin_droit_acces"]) < today
            if ended or (pce is not None and pce.moved_out):
                raise GdaRefusal(Gda.PROOF_CONTRACT_ENDED)
            right["statut_controle_preuve"] = PROOF_TO_CHECK
            self.proofs.setdefault(id_droit_acces, []).extend(p.filename for p in proofs)

    def set_proof_status(self, id_droit_acces: str, status: str, today: date) -> None:
        """A control campaign (or its verdict) as GRDF runs it: the control route."""
        with self._lock:
            right = self._right(id_droit_acces)
            if right is None:
                raise KeyError(id_droit_acces)
            right["statut_controle_preuve"] = status
            if status == PROOF_ASKED:
                deadline = today + timedelta(days=PROOF_DEADLINE_DAYS)
                right["date_limite_transmission_preuve"] = deadline.isoformat()

    def _right(self, id_droit_acces: str) -> dict[str, Any] | None:
        return next(iter(self._rights([id_droit_acces])), None)

    def _rights(self, ids: list[str]) -> list[dict[str, Any]]:
        wanted = set(ids)
        return [r for r in self.portfolio.rights if r["id_droit_acces"] in wanted]


_DECLARED_AS_SENT = (
    "date_debut_droit_acces",
    "date_fin_droit_acces",
    "perim_donnees_conso_debut",
    "perim_donnees_conso_fin",
    "perim_donnees_inj_debut",
    "perim_donnees_inj_fin",
)
_DECLARED_FLAGS = (
    "perim_donnees_contractuelles",
    "perim_donnees_techniques",
    "perim_donnees_informatives",
    "perim_donnees_publiees",
)


def check_proof_files(proofs: list[Proof]) -> None:
    """The Swagger's 409s on the files themselves, in its order."""
    if len(proofs) > MAX_PROOFS:
        raise GdaRefusal(Gda.TOO_MANY_PROOFS)
    extensions = {
        p.filename.rsplit(".", 1)[-1].lower() if "." in p.filename else "" for p in proofs
    }
    if not extensions <= PROOF_EXTENSIONS:
        raise GdaRefusal(Gda.PROOF_FORMAT)
    if any(len(p.content) > MAX_PROOF_BYTES for p in proofs):
        raise GdaRefusal(Gda.PROOF_TOO_LARGE)
    if any(p.content.startswith(_EXECUTABLE_MAGIC) for p in proofs):
        raise GdaRefusal(Gda.PROOF_CORRUPTED)
