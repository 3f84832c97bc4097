"""ADICT request validation: the swagger's 400 cases, checked in the order listed there.

Codes are ours (the swagger gives one example, "1000005"); messages are the swagger's
exact text, typographic apostrophes included.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, timedelta
from enum import Enum

from sandbox.adict_data import DataType, Gda, GdaRefusal, Window, years_before

ID_PCE = re.compile(r"GI[0-9]{6}|[0-9]{14}")  # the whole id (fullmatch), ASCII digits only
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)
HISTORY_YEARS = {DataType.INFORMATIVE: 3, DataType.PUBLISHED: 5, DataType.INJECTION: 5}
CONTRACTUAL_FILTERS = frozenset({"car", "cja", "profil", "tarif_acheminement", "date_mes"})


class BadRequest(Enum):
    BAD_PCE_ID = (
        "1000005",
        "L'identifiant du PCE n'est pas correctement formaté (GI+6 chiffres ou 14 chiffres).",
    )
    BOTH_PERIOD_FORMS = (
        "1000010",
        "Seul le paramètre 'periode' ou les paramètres 'date_debut' / 'date_fin' doivent être "
        "renseignés.",
    )
    NO_PERIOD = (
        "1000011",
        "Le paramètre 'periode' ou les paramètres 'date_debut' / 'date_fin' doivent être "
        "renseignés.",
    )
    BAD_PERIODE = (
        "1000012",
        "Le format du paramètre 'periode' n’est pas à un format attendu valide (YYYY, YYYY-NN, "
        "YYYY-WNN, YYYY-NNN, PN-YYYY, PN-YYYY-NN, PN-YYYY-WNN, PN-YYYY-WMM-N).",
    )
    MISSING_DATE_DEBUT = (
        "1000013",
        "Le paramètre 'date_debut' est obligatoire et doit être renseigné au format YYYY-MM-DD.",
    )
    MISSING_DATE_FIN = (
        "1000014",
        "Le paramètre 'date_fin' est obligatoire et doit être renseigné au format YYYY-MM-DD.",
    )
    BAD_DATE = (
        "1000015",
        "Le format du paramètre 'date_debut' et / ou 'date_fin' n’est pas au format YYYY-MM-DD.",
    )
    TOO_OLD_3_YEARS = (
        "1000016",
        "Le paramètre 'date_debut' ne doit pas être antérieur à la date du jour - 3 ans.",
    )
    TOO_OLD_5_YEARS = (
        "1000017",
        "Le paramètre 'date_debut' ne doit pas être antérieur à la date du jour - 5 ans.",
    )
    END_AFTER_TODAY = (
        "1000018",
        "Le paramètre 'date_fin' doit être inférieur ou égal à la date du jour.",
    )
    START_NOT_BEFORE_END = (
        "1000019",
        "La date de début renseignée doit être antérieure à la date de fin.",
    )
    BAD_FILTER = ("1000020", "Le filtre spécifié n'est pas valide.")

    def to_json(self) -> dict[str, str]:
        return {"code": self.value[0], "message": self.value[1]}


class InvalidRequest(ValueError):
    def __init__(self, reason: BadRequest) -> None:
        super().__init__(reason.value[1])
        self.reason = reason


def check_id_pce(id_pce: str) -> None:
    if not ID_PCE.fullmatch(id_pce):
        raise InvalidRequest(BadRequest.BAD_PCE_ID)


def periode_echo(query: Mapping[str, str]) -> dict[str, str | None]:
    """The `periode` object of every answer: the request's parameters, as sent."""
    return {key: query.get(param) for key, param in _ECHO_KEYS.items()}


_ECHO_KEYS = {"valeur": "periode", "date_debut": "date_debut", "date_fin": "date_fin"}


def parse_window(query: Mapping[str, str], data_type: DataType, today: date) -> Window:
    """The gas days a consumption or injection call asks for, both ends included.

    `date_debut`/`date_fin` are checked as the swagger says. A `periode` is never
    rejected for its age: it is clipped to the history limit and to today.
    """
    periode, start, end = query.get("periode"), query.get("date_debut"), query.get("date_fin")
    if periode is not None and (start is not None or end is not None):
        raise InvalidRequest(BadRequest.BOTH_PERIOD_FORMS)
    oldest = years_before(today, HISTORY_YEARS[data_type])
    if periode is not None:
        first, last = _periode_days(periode)
        return Window(max(first, oldest), min(last, today), periode_echo(query))
    if start is None and end is None:
        raise InvalidRequest(BadRequest.NO_PERIOD)
    if start is None:
        raise InvalidRequest(BadRequest.MISSING_DATE_DEBUT)
    if end is None:
        raise InvalidRequest(BadRequest.MISSING_DATE_FIN)
    first, last = _iso_date(start), _iso_date(end)
    if first < oldest:
        too_old = HISTORY_YEARS[data_type] == 3
        raise InvalidRequest(BadRequest.TOO_OLD_3_YEARS if too_old else BadRequest.TOO_OLD_5_YEARS)
    if last > today:
        raise InvalidRequest(BadRequest.END_AFTER_TODAY)
    if first >= last:
        raise InvalidRequest(BadRequest.START_NOT_BEFORE_END)
    return Window(first, last, periode_echo(query))


def _iso_date(text: str) -> date:
    try:
        if _ISO_DATE.match(text):
            return date.fromisoformat(text)
    except ValueError:
        pass
    raise InvalidRequest(BadRequest.BAD_DATE)


def _periode_days(periode: str) -> tuple[date, date]:
    """YYYY, YYYY-MM, YYYY-Www (ISO week) and YYYY-NNN (day of year). The swagger's
    "PN-" forms are unsupported here and get the format message."""
    try:
        if match := re.fullmatch(r"(\d{4})", periode):
            year = int(match[1])
            return date(year, 1, 1), date(year, 12, 31)
        if match := re.fullmatch(r"(\d{4})-(\d{2})", periode):
            first = date(int(match[1]), int(match[2]), 1)
            following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
            return first, following - timedelta(days=1)
        if match := re.fullmatch(r"(\d{4})-W(\d{2})", periode):
            monday = date.fromisocalendar(int(match[1]), int(match[2]), 1)
            return monday, monday + timedelta(days=6)
        if match := re.fullmatch(r"(\d{4})-(\d{3})", periode):
            day = date(int(match[1]), 1, 1) + timedelta(days=int(match[2]) - 1)
            if day.year == int(match[1]) and int(match[2]) > 0:
                return day, day
    except ValueError:
        pass
    raise InvalidRequest(BadRequest.BAD_PERIODE)


# --- GDA: declaring an access right ---------------------------------------------------

SUPPLY_ROLES = ("AUTORISE_CONTRAT_FOURNITURE", "DETENTEUR_CONTRAT_FOURNITURE")
ROLES = (*SUPPLY_ROLES, "AUTORISE_CONTRAT_INJECTION", "DETENTEUR_CONTRAT_INJECTION")
_POSTCODE = re.compile(r"^\d{5}$", re.ASCII)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_MOBILE = re.compile(r"^0[67]\d{8}$", re.ASCII)
_FLAGS = {
    "perim_donnees_contractuelles": Gda.FLAG_CONTRACTUAL,
    "perim_donnees_techniques": Gda.FLAG_TECHNICAL,
    "perim_donnees_informatives": Gda.FLAG_INFORMATIVE,
    "perim_donnees_publiees": Gda.FLAG_PUBLISHED,
}
# Assumed: GRDF keeps 5 years of history (seed 003, "profondeur d'historique"); a
# consumption perimeter starting earlier asks for data that cannot exist, which we
# read as the Swagger's catch-all "La demande d'accès est incohérente."
PERIMETER_HISTORY_YEARS = 5


def check_declaration(id_pce: str, body: Mapping[str, object], today: date) -> None:
    """The Swagger's 400 then date-related 409 cases of a declaration, in its order."""
    if not ID_PCE.fullmatch(id_pce):
        raise GdaRefusal(Gda.BAD_PCE)
    _check_form(body)
    _check_dates(body, today)


def _check_form(body: Mapping[str, object]) -> None:
    text = {key: str(value).strip() for key, value in body.items() if value not in (None, "")}
    if text.get("role_tiers") not in ROLES:
        raise GdaRefusal(Gda.NO_ROLE)
    if "nom_titulaire" not in text and "raison_sociale" not in text:
        raise GdaRefusal(Gda.NO_HOLDER)
    if "nom_titulaire" in text and "raison_sociale" in text:
        raise GdaRefusal(Gda.BOTH_HOLDERS)
    _require(text, "date_debut_droit_acces", Gda.NO_START, Gda.NO_START)
    _require(text, "date_fin_droit_acces", Gda.NO_END, Gda.BAD_END_FORMAT)
    if "code_postal" not in text:
        raise GdaRefusal(Gda.NO_POSTCODE)
    if not _POSTCODE.match(text["code_postal"]):
        raise GdaRefusal(Gda.BAD_POSTCODE)
    if "courriel_titulaire" not in text:
        raise GdaRefusal(Gda.NO_EMAIL)
    if not _EMAIL.match(text["courriel_titulaire"]):
        raise GdaRefusal(Gda.BAD_EMAIL)
    phone = text.get("numero_telephone_mobile_titulaire")
    if phone is not None and not _MOBILE.match(phone):
        raise GdaRefusal(Gda.BAD_PHONE)
    for flag, refusal in _FLAGS.items():
        if text.get(flag, "").lower() not in ("vrai", "faux"):
            raise GdaRefusal(refusal)
    if all(text[flag].lower() == "faux" for flag in _FLAGS):
        raise GdaRefusal(Gda.NO_PERIMETER)
    if _needs_conso_perimeter(text):
        _require(text, "perim_donnees_conso_debut", Gda.NO_CONSO_START, Gda.NO_CONSO_START)
        _require(text, "perim_donnees_conso_fin", Gda.NO_CONSO_END, Gda.NO_CONSO_END)
    for key, refusal in (
        ("perim_donnees_conso_debut", Gda.BAD_CONSO_START),
        ("perim_donnees_conso_fin", Gda.BAD_CONSO_END),
    ):
        if key in text and _optional_date(text[key]) is None:
            raise GdaRefusal(refusal)


def _needs_conso_perimeter(text: Mapping[str, str]) -> bool:
    """A supply role reading consumption must bound it in time."""
    reads_consumption = any(
        text[flag].lower() == "vrai"
        for flag in ("perim_donnees_informatives", "perim_donnees_publiees")
    )
    return text["role_tiers"] in SUPPLY_ROLES and reads_consumption


def _check_dates(body: Mapping[str, object], today: date) -> None:
    start = date.fromisoformat(str(body["date_debut_droit_acces"]).strip())
    end = date.fromisoformat(str(body["date_fin_droit_acces"]).strip())
    if start > today:
        raise GdaRefusal(Gda.START_AFTER_TODAY)
    if end < today:
        raise GdaRefusal(Gda.END_BEFORE_TODAY)
    conso_start = _optional_date(body.get("perim_donnees_conso_debut"))
    conso_end = _optional_date(body.get("perim_donnees_conso_fin"))
    if conso_start is None or conso_end is None:
        return
    if conso_start > today:
        raise GdaRefusal(Gda.CONSO_START_AFTER_TODAY)
    if conso_end < conso_start:
        raise GdaRefusal(Gda.CONSO_END_BEFORE_START)
    if conso_end > end:
        raise GdaRefusal(Gda.CONSO_END_AFTER_RIGHT)
    if conso_start < years_before(today, PERIMETER_HISTORY_YEARS):
        raise GdaRefusal(Gda.INCONSISTENT)


def _require(text: Mapping[str, str], key: str, missing: Gda, malformed: Gda) -> None:
    if key not in text:
        raise GdaRefusal(missing)
    if _optional_date(text[key]) is None:
        raise GdaRefusal(malformed)


def _optional_date(value: object) -> date | None:
    """A YYYY-MM-DD date (GRDF's own example pads them with spaces), else None."""
    text = str(value).strip() if value is not None else ""
    if not _ISO_DATE.match(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None
