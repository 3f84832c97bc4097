"""ADICT request validation: the swagger's 400 cases, checked in the order listed there.

Codes are ours (the swagger gives one example, "1000005"); messages are the swagger's
exact text, typographic apostrophes included.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, timedelta
from enum import Enum

from sandbox.adict_data import DataType, Window, years_before

ID_PCE = re.compile(r"(^GI\d{6}$|^\d{14}$)", re.ASCII)
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
    if not ID_PCE.match(id_pce):
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
