"""GRTgaz SFM: the flexibility contract's objects, checks, indicators and rebuilt program.

Pure functions over dataclasses, no I/O: the SFM sandbox decides with them and the
`gazoduc sfm check` pre-check runs them, so the two can never disagree. "§" numbers
are those of seed 001 ("Contrat de flexibilité intra-journalière, V. Cinématique
globale et format des échanges SI", version of 1 July 2020).

Where the OCR'd text leaves a choice, the comment says "Reading:" and why. Values
nothing public fixes are marked ASSUMED and live in the constants block below.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

# Same zone as pipelines.partitions.PARIS, not imported from there: that module loads
# Dagster, and the sandbox and the CLI pre-check load these rules without it.
PARIS = ZoneInfo("Europe/Paris")

# --- constants of the contract -------------------------------------------------------

GAS_DAY_START = time(6)  # §2.5: a program's slots run from J 06h00 to J+1 05h00
SLOTS = 24  # §13.2: always 24 values, even on 23- and 25-hour days
UNIT = "kWh25"  # §13.2: kWh at 25 °C, the only unit
FILLER_SLOT = 21  # §13.2: on a 23-hour day "la tranche de 3h" is added, at 0
REPEATED_SLOT = 20  # §13.2: on a 25-hour day the 2h slot takes the max of both 2h hours
AUTOMATIC_ACCEPTANCE_HOUR = time(1)  # §3.1: "avant le jour J-1 à 01h00"
PUBLICATION_LEAD = timedelta(minutes=8)  # §3.2.2.1: published every hour at H-8 min
APPLICATION_DELAY = timedelta(minutes=15)  # §3.2.2.1: applied at H+15 min
HOURS_AHEAD = 5  # §3.2.3.2: controlled slots run up to H+5 included
PARTIAL_FLEXIBILITY_KWH_PER_UNIT = Decimal(800_000)  # §3.2.3.2 2.a.i: "0,8 GWh/tranche"
ACCEPTED_COMMENT = "Programme accepté"  # §13.3, the example of `comment`

# ASSUMED: §2.4 speaks of "une tolérance" on the contractual Min and Max, never its size.
QMIN_QMAX_TOLERANCE = 0.05
# ASSUMED: §13.4 requires energy and volume thresholds on the rebuilt program without
# defining them: the program's hour within the site's tolerance, and volumes at this PCS.
PCS_KWH25_PER_M3 = 11.2
# ASSUMED: chapter 6's sample file is an image lost to OCR; French CSVs use ";".
CSV_SEPARATOR = ";"

SITE_ID = re.compile(r"^LI\d{4}$")  # §13.1: "format LI0000"
VERSION = re.compile(r"^[1-9]\d*$")


# --- enumerations and the spec's texts ----------------------------------------------------


class Colour(StrEnum):
    GREEN = "GREEN"
    RED = "RED"
    GREY = "GREY"  # §4: flexibility shortage


# Reading: §3.2.2.1 only says red -> green is "plus favorable". GREY (shortage: every
# program refused, §4) ranks below RED, so leaving GREY applies at once and entering it
# waits for H+15 min like any change for the worse.
FAVOUR = {Colour.GREY: 0, Colour.RED: 1, Colour.GREEN: 2}


class Indicator(StrEnum):
    """The three flexibility indicators, by their JSON names.

    Reading: §13.1's OCR shows `qToOflexibilityIndicator`, `qToQFlexibilityIndicator` and
    `qToQ+FlexibilityIndicator`; §13.3 spells them `qTo0FlexibilityIndicator` (Q -> Q-,
    "Q vers 0") and `qToQmaxFlexibilityIndicator` (Q -> Q+), which the refusal codes
    Q0_DELAY and QMAX_DELAY confirm. We write §13.3's names everywhere and read all.
    """

    Q_TO_Q_MINUS = "qTo0FlexibilityIndicator"
    Q_TO_Q_PLUS = "qToQmaxFlexibilityIndicator"
    PARTIAL = "partialFlexibilityIndicator"


INDICATOR_ALIASES: dict[str, Indicator] = {
    "qToOflexibilityIndicator": Indicator.Q_TO_Q_MINUS,
    "qToOFlexibilityIndicator": Indicator.Q_TO_Q_MINUS,
    "qToQFlexibilityIndicator": Indicator.Q_TO_Q_MINUS,
    "qToQ+FlexibilityIndicator": Indicator.Q_TO_Q_PLUS,
} | {indicator.value: indicator for indicator in Indicator}


class FeasibilityStatus(StrEnum):
    ACCEPTED = "ACCEPTED"
    REFUSED = "REFUSED"


class Rejection(StrEnum):
    """Technical rejections of §2, named as in §13.6 (the spec's spelling, EXEDED included)."""

    BAD_FORMAT = "BAD_FORMAT"  # ours: §2.1 names no code for a malformed message
    UNKNOWN_HMS_SITE = "UNKNOWN_HMS_SITE"
    PAST_GAS_DAY = "PAST_GAS_DAY"
    EXEDED_QMIN_QMAX = "EXEDED_QMIN_QMAX"
    BAD_NUMBER_QUANTITIES = "BAD_NUMBER_QUANTITIES"
    BAD_QUANTITIES = "BAD_QUANTITIES"
    HOURS_NOT_BETWEEN_START_END = "HOURS_NOT_BETWEEN_START_END"
    HMS_PROFILE_ID_ALREADY_EXISTS = "HMS_PROFILE_ID_ALREADY_EXISTS"
    VERSION_NOT_INCREASING = "VERSION_NOT_INCREASING"  # ours: §2.2 names no code for it


REJECTION_MESSAGES: dict[Rejection, str] = {
    Rejection.BAD_FORMAT: "Le format du programme n'est pas conforme : %s",
    Rejection.UNKNOWN_HMS_SITE: "Le site de ce programme est inconnu",
    Rejection.PAST_GAS_DAY: "Programme traitant d'une JG dans le passé",
    Rejection.EXEDED_QMIN_QMAX: "Pour les heures %s dépassement de la valeur [Qmin/Qmax]",
    Rejection.BAD_NUMBER_QUANTITIES: "Le programme n'a pas 24 valeurs",
    Rejection.BAD_QUANTITIES: "Le programme contient des valeurs nulles pour les heures futures",
    Rejection.HOURS_NOT_BETWEEN_START_END: (
        "Programme traitant d'une JG différente de la JG indiquée"
    ),
    Rejection.HMS_PROFILE_ID_ALREADY_EXISTS: "L'id de ce programme existe déjà",
    Rejection.VERSION_NOT_INCREASING: (
        "Le numéro de version doit être supérieur à celui du dernier programme reçu (%s)"
    ),
}


class Refusal(StrEnum):
    """Feasibility refusals of §3 and §4, with the comment texts of §13.3."""

    Q0_DELAY = "HMS_PROFILE_NOT_RESPECT_Q0_DELAY"
    QMAX_DELAY = "HMS_PROFILE_NOT_RESPECT_QMAX_DELAY"
    GRAY_INDICATOR = "HMS_PROFILE_NOT_RESPECT_GRAY_INDICATOR"
    FLEXIBILITY_TOLERANCE = "HMS_PROFILE_NOT_RESPECT_FLEXIBILITY_TOLERANCE"


REFUSAL_COMMENTS: dict[Refusal, str] = {
    Refusal.Q0_DELAY: (
        "Le programme ne respecte pas le délai de prévenance sur les heures %s. "
        "Indicateur de Flexibilité Q → Q- rouge"
    ),
    Refusal.QMAX_DELAY: (
        "Le programme ne respecte pas le délai de prévenance sur les heures %s. "
        "Indicateur de Flexibilité Q → Q+ rouge"
    ),
    Refusal.GRAY_INDICATOR: "Le programme est rejeté dû à une pénurie de Flexibilité",
    Refusal.FLEXIBILITY_TOLERANCE: (
        "Le programme est rejeté car il ne respecte pas le volume de Flexibilité partielle accordé"
    ),
}


# --- time: gas days, slots and the spec's timestamps --------------------------------------


def utc(moment: datetime) -> datetime:
    """`moment` as a UTC instant. Every instant computation goes through it: Python adds to
    and compares Paris datetimes in wall-clock time and drops `fold` (PEP 495), so on the
    autumn night 02:10 CET would come before 02:40 CEST, and 02:00 CET - 8 min be 01:52 CEST."""
    if moment.tzinfo is None:
        raise ValueError(f"an instant needs a time zone: {moment.isoformat()}")
    return moment.astimezone(UTC)


def gas_day_start(day: date) -> datetime:
    return datetime.combine(day, GAS_DAY_START, PARIS)


def gas_day_of(moment: datetime) -> date:
    return (moment.astimezone(PARIS) - timedelta(hours=GAS_DAY_START.hour)).date()


def gas_day_hours(day: date) -> int:
    """23, 24 or 25: through UTC, as Paris wall-clock subtraction ignores DST."""
    seconds = gas_day_start(day + timedelta(days=1)).timestamp() - gas_day_start(day).timestamp()
    return round(seconds / 3600)


def slot_labels(day: date) -> tuple[datetime, ...]:
    """The 24 slot starts of §2.5 as naive Paris wall-clock labels, J 06:00 to J+1 05:00."""
    first = datetime.combine(day, GAS_DAY_START)
    return tuple(first + timedelta(hours=index) for index in range(SLOTS))


def hour_index(day: date, moment: datetime) -> int:
    """The slot of `day` holding the real hour that contains `moment` (negative before the
    day, 24 and more after it, counted as if the day had 24 hours).

    Reading (§13.2, "ajouter une tranche (celle de 3h) ... à 0"): on the 23-hour day the
    added slot is the one labelled 03:00 (FILLER_SLOT), at 0; the 23 real hours fill the
    other 23 slots in order, so the real 03:00 CEST hour is in the slot labelled 02:00.
    On the 25-hour day both real 02:00 hours share the 02:00 slot (REPEATED_SLOT).
    Slots are reached through real elapsed hours only, here and in the controlled window.
    """
    start = gas_day_start(day).timestamp()
    elapsed = math.floor((moment.timestamp() - start) / 3600)
    hours = gas_day_hours(day)
    if elapsed >= hours:  # after the day: keep counting as if it had 24 hours
        return elapsed - hours + SLOTS
    if hours == 23 and elapsed >= FILLER_SLOT:
        return elapsed + 1
    if hours == 25 and elapsed > REPEATED_SLOT:
        return elapsed - 1
    return elapsed


def real_hours(day: date) -> tuple[datetime, ...]:
    """The UTC starts of the 23, 24 or 25 real hours of gas day `day`, in order."""
    start = utc(gas_day_start(day))
    return tuple(start + timedelta(hours=n) for n in range(gas_day_hours(day)))


def slot_hours(day: date, slot: int) -> tuple[datetime, ...]:
    """The real hours a slot holds: one, none (the 23-hour day's added slot) or two (the
    25-hour day's 02:00 slot). The inverse of `hour_index` over the gas day."""
    return tuple(hour for hour in real_hours(day) if hour_index(day, hour) == slot)


def real_hours_to_slots(day: date, hourly: Sequence[float]) -> list[float]:
    """23, 24 or 25 real hourly quantities to the 24 values a program carries (§13.2):
    the added slot at 0, the max of two hours sharing a slot."""
    hours = real_hours(day)
    if len(hourly) != len(hours):
        raise ValueError(f"gas day {day} has {len(hours)} hours, got {len(hourly)} values")
    by_slot: dict[int, list[float]] = {}
    for hour, quantity in zip(hours, hourly, strict=True):
        by_slot.setdefault(hour_index(day, hour), []).append(quantity)
    return [max(by_slot.get(slot, [0.0])) for slot in range(SLOTS)]


def before_quarter_past(moment: datetime) -> bool:
    """Received before H+15 min (§3.2.3.2 a, §6): Paris offsets are whole hours."""
    return moment.astimezone(PARIS).minute < APPLICATION_DELAY.seconds // 60


def controlled_hours(received_at: datetime) -> tuple[datetime, ...]:
    """§3.2.3.2: the real hours H-1 to H+5 (7) before H+15 min, H to H+5 (6) after, as
    UTC starts (Paris offsets are whole hours, so UTC hours are Paris hours).

    Reading: "H+5 heures" counts real hours, on DST days too, as the notice delay
    ("délai de prévenance") is a duration: 7 or 6 real hours on 23- and 25-hour days,
    whichever slots hold them. §3.2.3.1's "H-1 et H+6 Heures" is the end of the H+5 hour.
    """
    hour = utc(received_at).replace(minute=0, second=0, microsecond=0)
    first = -1 if before_quarter_past(received_at) else 0
    return tuple(hour + timedelta(hours=n) for n in range(first, HOURS_AHEAD + 1))


def window_slots(day: date, received_at: datetime) -> list[int]:
    """The slot of each controlled real hour that belongs to `day`, in order: a slot
    appears twice when it holds two controlled hours (the 25-hour day's 02:00)."""
    slots = (hour_index(day, hour) for hour in controlled_hours(received_at))
    return [slot for slot in slots if 0 <= slot < SLOTS]


def controlled_slots(day: date, received_at: datetime) -> tuple[int, ...]:
    """The distinct slots of `day` the controlled hours fall in (empty before the night
    the checks begin); the 23-hour day's added slot holds no hour and is never one."""
    return tuple(dict.fromkeys(window_slots(day, received_at)))


def controlled_window_start(received_at: datetime) -> datetime:
    """The start of the hour H-1 (or H): the partial-flexibility baseline's instant."""
    return controlled_hours(received_at)[0]


def first_adjustable_slot(day: date, received_at: datetime) -> int:
    """§6, §7: the "heure en cours" is H-1 before H+15 min, else H (the first controlled
    hour); 0 before the day."""
    return max(0, hour_index(day, controlled_window_start(received_at)))


def automatic_acceptance_deadline(day: date) -> datetime:
    """§3.1: programs for day J received before "le Jour J-1 à 01h00" are accepted as is.

    Reading: "Jour" is the contract's gas day, so J-1 01:00 is 01:00 during gas day J-1,
    the calendar night before J (J 01:00 Paris). It is the first instant the 7 controlled
    slots (H-1 to H+5) reach J's 06:00 slot, and §4 shows the indicators of JG J+1 from
    00:52, eight minutes before. Before it no slot of J could be controlled anyway.
    """
    return datetime.combine(day, AUTOMATIC_ACCEPTANCE_HOUR, PARIS)


def format_timestamp(moment: datetime) -> str:
    """The spec's "CET/CEST : YYYY-MM-DDTHH:mm:ss.sssZ" (naive values are Paris wall time).

    Reading: every example is Paris wall-clock time followed by a literal Z (the 06:00
    slot is "2019-11-18T06:00:00.000Z", the 09:52 publication "…T09:52:00.000Z"): the Z
    does not mean UTC. Change it here if GRTgaz's real answers say otherwise.
    """
    wall = moment.astimezone(PARIS) if moment.tzinfo else moment
    return f"{wall:%Y-%m-%dT%H:%M:%S}.{wall.microsecond // 1000:03d}Z"


def parse_wall_clock(text: str) -> datetime:
    """A spec timestamp as a naive Paris wall-clock time (an explicit offset is honoured)."""
    moment = datetime.fromisoformat(text.removesuffix("Z"))
    if moment.tzinfo is not None:
        return moment.astimezone(PARIS).replace(tzinfo=None)
    return moment


def parse_timestamp(text: str) -> datetime:
    """A spec timestamp as an aware instant (see `format_timestamp`).

    Reading: on the autumn night the wall-clock text cannot tell the two 02:00 hours
    apart; it is read as the first (CEST, fold 0). Only a client reading GRTgaz's answers
    back meets it: the sandbox keeps its instants, not their text.
    """
    return parse_wall_clock(text).replace(tzinfo=PARIS)


def format_slots(slots: Iterable[int], day: date) -> str:
    """The `%s` of the comments: "13h-14h, 14h-15h" (the spec gives no sample)."""
    labels = slot_labels(day)
    return ", ".join(f"{labels[slot].hour}h-{(labels[slot].hour + 1) % 24}h" for slot in slots)


# --- sites and program ids ------------------------------------------------------------------


@dataclass(frozen=True)
class SiteRef:
    """A site as the indicator objects show it (§13.1, §13.3)."""

    site_id: str
    site_label: str
    mesh_code: str  # "ME0000"
    mesh_label: str

    def to_json(self) -> dict[str, str]:
        return {
            "siteId": self.site_id,
            "siteLabel": self.site_label,
            "meshCode": self.mesh_code,
            "meshLabel": self.mesh_label,
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> SiteRef:
        return cls(obj["siteId"], obj["siteLabel"], obj["meshCode"], obj["meshLabel"])


@dataclass(frozen=True)
class Site:
    """A highly modulated site of a connection contract (§2.3, §2.4, §3.2.1)."""

    ref: SiteRef
    contract_code: str
    units: int  # "tranches": the partial-flexibility volume is per unit (§3.2.3.2)
    q_min: float  # contractual hourly Min and Max, kWh25 (§2.4)
    q_max: float
    tolerance: float = QMIN_QMAX_TOLERANCE

    @property
    def site_id(self) -> str:
        return self.ref.site_id

    def accepts_quantity(self, quantity: float) -> bool:
        """§2.4: "chacune des valeurs horaires" within Min and Max widened by the tolerance,
        0 included (§13.2's 0 concerns only the 23-hour day's added slot)."""
        low, high = self.q_min * (1 - self.tolerance), self.q_max * (1 + self.tolerance)
        return low <= quantity <= high


@dataclass(frozen=True, order=True)
class ProfileId:
    """`[AAAAMMJJ]-[site]-[contrat]-[version]` (§13.2), e.g. 20200525-LI1234-RNE.GSTF.HKL.01-10."""

    gas_day: date
    site_id: str
    contract_code: str
    version: int

    def __str__(self) -> str:
        return f"{self.gas_day:%Y%m%d}-{self.site_id}-{self.contract_code}-{self.version}"

    @classmethod
    def parse(cls, text: str) -> ProfileId:
        """Raises ValueError. The contract code may hold dashes: split at both ends."""
        day, site_id, rest = [*text.split("-", 2), "", ""][:3]
        contract_code, _, version = rest.rpartition("-")
        if not (re.fullmatch(r"\d{8}", day) and SITE_ID.match(site_id)):
            raise ValueError(f"identifiant de programme invalide : {text!r}")
        if not (contract_code and VERSION.match(version)):
            raise ValueError(f"identifiant de programme invalide : {text!r}")
        gas_day = checked_gas_day(datetime.strptime(day, "%Y%m%d").date())
        return cls(gas_day, site_id, contract_code, int(version))


def rebuilt_profile_id(day: date, site_id: str) -> str:
    """§13.4: `[AAAAMMJJ]-[site]`, constant for a site and day (§16)."""
    return f"{day:%Y%m%d}-{site_id}"


# --- programs (§13.2, §13.3) --------------------------------------------------------------


class FormatError(ValueError):
    """A message that does not follow §13.2's format (§2.1)."""


class DateError(FormatError):
    """A date or timestamp that is not one, or lies where no gas day can be computed."""


def checked_gas_day(day: date) -> date:
    """`day` if its gas day and its neighbours fit Python's calendar (year 1 to 9999):
    the rules reach J-1 and J+1, so 0001-01-01 and 9999-12-31 are out. Raises DateError."""
    if not date.min < day < date.max:
        raise DateError(f"journée gazière hors calendrier : {day.isoformat()}")
    return day


@dataclass(frozen=True)
class HourlySlot:
    start: datetime  # naive Paris wall-clock label, as §13.2's examples write it
    quantity: float | None  # None: JSON null, only allowed on past hours (§13.6 BAD_QUANTITIES)

    def to_json(self) -> dict[str, Any]:
        return {"hourlySlotStartDateTime": format_timestamp(self.start), "quantity": self.quantity}

    @classmethod
    def from_json(cls, obj: Any) -> HourlySlot:
        if not isinstance(obj, Mapping):
            raise FormatError("tranche horaire : objet attendu")
        quantity = obj.get("quantity")
        if quantity is not None and not _is_number(quantity):
            raise FormatError("quantity : nombre attendu")
        start = _text(obj, "hourlySlotStartDateTime")
        try:
            label = parse_wall_clock(start)
        except ValueError as error:
            raise DateError(f"hourlySlotStartDateTime invalide : {start!r}") from error
        return cls(label, None if quantity is None else float(quantity))


@dataclass(frozen=True)
class InputHmsProfile:
    """A declared program, as the client sends it (§13.2)."""

    hms_profile_id: str
    declaration_datetime: datetime  # aware
    hms_site_id: str
    hms_site_label: str
    connection_contract_code: str
    gas_day: date
    q_min: float  # the site's technical Min and Max declared for the day
    q_max: float
    slots: tuple[HourlySlot, ...]
    unit: str = UNIT

    @property
    def profile_id(self) -> ProfileId:
        return ProfileId.parse(self.hms_profile_id)

    @property
    def quantities(self) -> tuple[float | None, ...]:
        """The values in slot order (06:00 first): meaningful once `check_declaration` passed."""
        return tuple(slot.quantity for slot in sorted(self.slots, key=lambda slot: slot.start))

    @classmethod
    def build(
        cls,
        site: Site,
        gas_day: date,
        version: int,
        quantities: Sequence[float | None],
        declared_at: datetime,
        q_min: float | None = None,
        q_max: float | None = None,
    ) -> InputHmsProfile:
        """A program for `site` and `gas_day` with 24 values in slot order."""
        profile_id = ProfileId(gas_day, site.site_id, site.contract_code, version)
        slots = tuple(map(HourlySlot, slot_labels(gas_day), quantities))
        return cls(
            hms_profile_id=str(profile_id),
            declaration_datetime=declared_at,
            hms_site_id=site.site_id,
            hms_site_label=site.ref.site_label,
            connection_contract_code=site.contract_code,
            gas_day=gas_day,
            q_min=site.q_min if q_min is None else q_min,
            q_max=site.q_max if q_max is None else q_max,
            slots=slots,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "hmsProfileId": self.hms_profile_id,
            "declarationDateTime": format_timestamp(self.declaration_datetime),
            "hmsSiteId": self.hms_site_id,
            "hmsSiteLabel": self.hms_site_label,
            "connectionContractCode": self.connection_contract_code,
            "gasDay": self.gas_day.isoformat(),
            "unit": self.unit,
            "qMin": self.q_min,
            "qMax": self.q_max,
            "hmsHourlyProfile": [slot.to_json() for slot in self.slots],
        }

    @classmethod
    def from_json(cls, obj: Any) -> InputHmsProfile:
        """Raises FormatError on any departure from §13.2 that §2.1 rejects."""
        if not isinstance(obj, Mapping):
            raise FormatError("programme : objet attendu")
        hourly = obj.get("hmsHourlyProfile")
        if not isinstance(hourly, list):
            raise FormatError("hmsHourlyProfile : liste attendue")
        profile = cls(
            hms_profile_id=_text(obj, "hmsProfileId"),
            declaration_datetime=_timestamp(obj, "declarationDateTime"),
            hms_site_id=_text(obj, "hmsSiteId"),
            hms_site_label=_text(obj, "hmsSiteLabel"),
            connection_contract_code=_text(obj, "connectionContractCode"),
            gas_day=_day(obj, "gasDay"),
            q_min=_number(obj, "qMin"),
            q_max=_number(obj, "qMax"),
            slots=tuple(HourlySlot.from_json(slot) for slot in hourly),
            unit=_text(obj, "unit"),
        )
        _check_coherent(profile)
        return profile


def _check_coherent(profile: InputHmsProfile) -> None:
    """§2.1: the id repeats day, site and contract; one unit; qMin <= qMax."""
    try:
        profile_id = profile.profile_id
    except DateError:
        raise
    except ValueError as error:
        raise FormatError(str(error)) from error
    declared = (profile.gas_day, profile.hms_site_id, profile.connection_contract_code)
    if (profile_id.gas_day, profile_id.site_id, profile_id.contract_code) != declared:
        raise FormatError("l'identifiant ne reprend pas gasDay, hmsSiteId et le contrat")
    if not SITE_ID.match(profile.hms_site_id):
        raise FormatError(f"hmsSiteId invalide : {profile.hms_site_id!r}")
    if profile.unit != UNIT:
        raise FormatError(f"unit doit valoir {UNIT}")
    if profile.q_min > profile.q_max:
        raise FormatError("qMin est supérieur à qMax")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _text(obj: Mapping[str, Any], key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise FormatError(f"{key} : chaîne attendue")
    return value


def _number(obj: Mapping[str, Any], key: str) -> float:
    value = obj.get(key)
    if not _is_number(value):
        raise FormatError(f"{key} : nombre attendu")
    return float(value)


def _day(obj: Mapping[str, Any], key: str) -> date:
    text = _text(obj, key)
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            raise ValueError(text)
        day = date.fromisoformat(text)
    except ValueError as error:
        raise DateError(f"{key} : date YYYY-MM-DD attendue, pas {text!r}") from error
    try:
        return checked_gas_day(day)
    except DateError as error:
        raise DateError(f"{key} : {error}") from error


def _timestamp(obj: Mapping[str, Any], key: str) -> datetime:
    text = _text(obj, key)
    try:
        moment = parse_timestamp(text)
        utc(moment)  # an instant at the calendar's edge has no UTC twin
        return moment
    except (ValueError, OverflowError) as error:
        raise DateError(f"{key} : horodate invalide {text!r}") from error


# --- indicators: objects and timing (§3.2.2.1, §13.1) --------------------------------------


@dataclass(frozen=True)
class IndicatorState:
    status: Colour
    availability: datetime  # availabilityDateTime: when it was published (kept in UTC)
    application: datetime  # applicationDateTime: when it applies (kept in UTC)

    def __post_init__(self) -> None:
        object.__setattr__(self, "availability", utc(self.availability))
        object.__setattr__(self, "application", utc(self.application))

    @property
    def gas_day(self) -> date:
        """The gas day it was published for: that of the hour H it was published for."""
        return gas_day_of(self.availability + PUBLICATION_LEAD)

    def to_json(self) -> dict[str, str]:
        return {
            "status": self.status.value,
            "availabilityDateTime": format_timestamp(self.availability),
            "applicationDateTime": format_timestamp(self.application),
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> IndicatorState:
        return cls(
            Colour(obj["status"]),
            parse_timestamp(obj["availabilityDateTime"]),
            parse_timestamp(obj["applicationDateTime"]),
        )


IndicatorStates = Mapping[Indicator, IndicatorState]


@dataclass(frozen=True)
class Publication:
    """The colours GRTgaz publishes for hour H of a mesh: at H-8 min, applied at H+15 min."""

    hour: datetime  # aware start of H (kept in UTC)
    colours: Mapping[Indicator, Colour]

    def __post_init__(self) -> None:
        object.__setattr__(self, "hour", utc(self.hour))

    @property
    def gas_day(self) -> date:
        """The gas day it is published for: that of its hour H.

        Reading: §4 greys a shortage day's pastille "à partir de 05h52 pour permettre de
        conserver la visibilité sur le jour J-1 jusqu'à la fin": the 05:52 publication
        (for 06:00) is the first of J, the 04:52 one the last of J-1. Its next sentence
        ("dès 00h52 la visibilité pour la JG du lendemain") is read as the pastille shown,
        not as the day the night's publications are for.
        """
        return gas_day_of(self.hour)

    @property
    def published_at(self) -> datetime:
        return self.hour - PUBLICATION_LEAD

    @property
    def applies_at(self) -> datetime:
        return self.hour + APPLICATION_DELAY


@dataclass(frozen=True)
class ShownIndicators:
    """What the API shows at an instant: `currentIndicator` and, if a change for the worse
    is published but not yet applied, `nextIndicator` (§3.2.2.1)."""

    current: IndicatorStates
    next: IndicatorStates | None = None

    @property
    def colours_in_force(self) -> dict[Indicator, Colour]:
        """The colours in force at this instant, whatever gas day they were published for."""
        return {indicator: state.status for indicator, state in self.current.items()}

    def states_at(self, moment: datetime) -> dict[Indicator, IndicatorState]:
        """The states in force at `moment`, a little after the instant shown: a pending
        `nextIndicator` counts once its application time has come (§3.2.2.1)."""
        states = dict(self.current)
        for indicator, state in (self.next or {}).items():
            if state.application <= utc(moment):
                states[indicator] = state
        return states


def indicators_at(publications: Sequence[Publication], moment: datetime) -> ShownIndicators | None:
    """The indicators in force and shown at `moment`, from a mesh's publications.

    §3.2.2.1: a publication at H-8 min applies at H+15 min, but a more favourable colour
    applies at once. Each indicator moves on its own (examples 1 and 2 change one only).
    None before the first publication.
    """
    moment = utc(moment)
    published = sorted(
        (pub for pub in publications if pub.published_at <= moment), key=lambda p: p.hour
    )
    if not published:
        return None
    current: dict[Indicator, IndicatorState] = {}
    pending: dict[Indicator, IndicatorState] = {}
    for indicator in Indicator:
        current[indicator], waiting = _one_indicator_at(published, indicator, moment)
        if waiting is not None:
            pending[indicator] = waiting
    if not pending:
        return ShownIndicators(current)
    # `nextIndicator` carries the three indicators: unchanged ones as they stand.
    return ShownIndicators(current, {**current, **pending})


def _one_indicator_at(
    published: Sequence[Publication], indicator: Indicator, moment: datetime
) -> tuple[IndicatorState, IndicatorState | None]:
    current: IndicatorState | None = None
    pending: IndicatorState | None = None
    for pub in published:
        if pending is not None and pending.application <= pub.published_at:
            current, pending = pending, None
        state = IndicatorState(pub.colours[indicator], pub.published_at, pub.applies_at)
        if current is None or FAVOUR[state.status] >= FAVOUR[current.status]:
            if current is not None and FAVOUR[state.status] > FAVOUR[current.status]:
                # Reading: it applies at once, so its application time is its publication.
                state = replace(state, application=pub.published_at)
            current, pending = state, None
        else:
            pending = state
    if pending is not None and pending.application <= moment:
        current, pending = pending, None
    assert current is not None  # `published` is not empty
    return current, pending


ALL_GREEN = dict.fromkeys(Indicator, Colour.GREEN)
SHORTAGE = dict.fromkeys(Indicator, Colour.GREY)


def colours_for_gas_day(
    states: Mapping[Indicator, IndicatorState] | None, gas_day: date, shortage: bool
) -> dict[Indicator, Colour]:
    """The colours a program for `gas_day` is checked with.

    §4: a shortage holds "pour toute la journée gazière pour laquelle elle a été
    déclenchée", "quelle que soit la couleur de la pastille": once it has applied, every
    indicator is GREY for that day, even after the pastille turned green again. A GREY
    published for another gas day says nothing about this one: no restriction (GREEN),
    as before any publication (Reading: nothing restricts flexibility before GRTgaz
    publishes, so no publication means all green).
    """
    if shortage:
        return dict(SHORTAGE)
    if states is None:
        return dict(ALL_GREEN)
    return {
        indicator: Colour.GREEN
        if state.status is Colour.GREY and not _grey_for(state, gas_day)
        else state.status
        for indicator, state in states.items()
    }


def _grey_for(state: IndicatorState, gas_day: date) -> bool:
    return state.status is Colour.GREY and state.gas_day == gas_day


def shortage_published(
    publications: Sequence[Publication], gas_day: date, moment: datetime
) -> bool:
    """§4: a GREY published for `gas_day` was in force at some instant up to `moment`.

    In force changes only when a publication is published or applies: check those instants.
    """
    instants = {
        instant
        for pub in publications
        if pub.gas_day == gas_day and Colour.GREY in pub.colours.values()
        for instant in (pub.published_at, pub.applies_at)
        if instant <= utc(moment)
    }
    return any(
        _grey_for(state, gas_day)
        for instant in instants
        for state in _shown(publications, instant).current.values()
    )


def _shown(publications: Sequence[Publication], moment: datetime) -> ShownIndicators:
    shown = indicators_at(publications, moment)
    assert shown is not None  # `moment` is at or after a publication
    return shown


def shortage_seen(
    states: Mapping[Indicator, IndicatorState], gas_day: date, history: Iterable[HmsProfile]
) -> bool:
    """What a client can see of §4's shortage for `gas_day` without the past publications:
    GREY for that day shown now, or a stored program of that day checked during one."""
    recorded = any(Colour.GREY in profile.feasibility.colours.values() for profile in history)
    return recorded or any(_grey_for(state, gas_day) for state in states.values())


@dataclass(frozen=True)
class SiteIndicators:
    """§13.1's siteIndicators object: one site's current and next indicators."""

    site: SiteRef
    shown: ShownIndicators

    def to_json(self) -> dict[str, Any]:
        body = {"currentIndicator": self._side(self.shown.current)}
        if self.shown.next is not None:
            body["nextIndicator"] = self._side(self.shown.next)
        return {"siteIndicators": body}

    def _side(self, states: IndicatorStates) -> dict[str, Any]:
        return self.site.to_json() | {ind.value: states[ind].to_json() for ind in Indicator}

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> SiteIndicators:
        """Takes the object with or without its `siteIndicators` wrapper, any name spelling."""
        body = obj.get("siteIndicators", obj)
        current = body["currentIndicator"]
        following = body.get("nextIndicator")
        shown = ShownIndicators(
            _states_from_json(current), following and _states_from_json(following)
        )
        return cls(SiteRef.from_json(current), shown)


def _states_from_json(obj: Mapping[str, Any]) -> dict[Indicator, IndicatorState]:
    return {
        INDICATOR_ALIASES[key]: IndicatorState.from_json(value)
        for key, value in obj.items()
        if key in INDICATOR_ALIASES
    }


# --- feasibility (§3, §4) ------------------------------------------------------------------


@dataclass(frozen=True)
class RefusalDetail:
    refusal: Refusal
    slots: tuple[int, ...] = ()  # the hours the comment names


@dataclass(frozen=True)
class Feasibility:
    """§13.3's hmsProfileFeasibility: status, comment and the indicators it was checked with."""

    status: FeasibilityStatus
    site: SiteRef
    colours: Mapping[Indicator, Colour]
    gas_day: date
    refusals: tuple[RefusalDetail, ...] = ()
    comment_text: str | None = None  # as read back from JSON

    @property
    def comment(self) -> str:
        if self.comment_text is not None:
            return self.comment_text
        if not self.refusals:
            return ACCEPTED_COMMENT
        return " ; ".join(_refusal_comment(detail, self.gas_day) for detail in self.refusals)

    def to_json(self) -> dict[str, Any]:
        indicator = self.site.to_json() | {ind.value: self.colours[ind].value for ind in Indicator}
        return {
            "indicator": indicator,
            "hmsProfileFeasibilityStatus": self.status.value,
            "comment": self.comment,
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any], gas_day: date) -> Feasibility:
        indicator = obj["indicator"]
        colours = {
            INDICATOR_ALIASES[key]: Colour(value)
            for key, value in indicator.items()
            if key in INDICATOR_ALIASES
        }
        status = FeasibilityStatus(obj["hmsProfileFeasibilityStatus"])
        return cls(status, SiteRef.from_json(indicator), colours, gas_day, (), obj["comment"])


def _refusal_comment(detail: RefusalDetail, day: date) -> str:
    text = REFUSAL_COMMENTS[detail.refusal]
    return text % format_slots(detail.slots, day) if "%s" in text else text


@dataclass(frozen=True)
class HmsProfile:
    """A program as stored and returned by the API (§13.3)."""

    declared: InputHmsProfile
    processing_datetime: datetime  # when GRTgaz received it (kept in UTC): rules read it
    feasibility: Feasibility

    def __post_init__(self) -> None:
        object.__setattr__(self, "processing_datetime", utc(self.processing_datetime))

    @property
    def accepted(self) -> bool:
        return self.feasibility.status is FeasibilityStatus.ACCEPTED

    @property
    def profile_id(self) -> ProfileId:
        return self.declared.profile_id

    def to_json(self) -> dict[str, Any]:
        declared = self.declared.to_json()
        head = {key: declared.pop(key) for key in ("hmsProfileId", "declarationDateTime")}
        return (
            head
            | {"processingDateTime": format_timestamp(self.processing_datetime)}
            | declared
            | {"hmsProfileFeasibility": self.feasibility.to_json()}
        )

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> HmsProfile:
        declared = InputHmsProfile.from_json(obj)
        feasibility = Feasibility.from_json(obj["hmsProfileFeasibility"], declared.gas_day)
        return cls(declared, parse_timestamp(obj["processingDateTime"]), feasibility)


def hours_and_indicators(
    new: Sequence[float], reference: Sequence[float], slots: Iterable[int]
) -> dict[int, frozenset[Indicator]]:
    """§3.2.2: which indicators govern each hour, comparing with the reference program.

    Higher: Q -> Q+ and partial flexibility; lower: Q -> Q-; equal: none.
    """
    governed: dict[int, frozenset[Indicator]] = {}
    for slot in slots:
        if new[slot] > reference[slot]:
            governed[slot] = frozenset({Indicator.Q_TO_Q_PLUS, Indicator.PARTIAL})
        elif new[slot] < reference[slot]:
            governed[slot] = frozenset({Indicator.Q_TO_Q_MINUS})
        else:
            governed[slot] = frozenset()
    return governed


def assess_feasibility(
    profile: InputHmsProfile,
    site: Site,
    history: Sequence[HmsProfile],
    publications: Sequence[Publication],
    received_at: datetime,
) -> Feasibility:
    """§3: ACCEPTED or REFUSED with the reasons and hours GRTgaz would give.

    `history` holds the programs already stored for this site and gas day (any status);
    `publications` the site's mesh indicators around `received_at`, all those of the
    program's gas day published so far included (§4's shortage lasts the whole day).
    """
    shown = indicators_at(publications, received_at)
    shortage = shortage_published(publications, profile.gas_day, received_at)
    colours = colours_for_gas_day(shown and shown.current, profile.gas_day, shortage)
    return assess_with_colours(profile, site, history, colours, received_at)


def assess_with_colours(
    profile: InputHmsProfile,
    site: Site,
    history: Sequence[HmsProfile],
    colours: Mapping[Indicator, Colour],
    received_at: datetime,
) -> Feasibility:
    """§3 with the colours in force at `received_at` already known: the sandbox derives
    them from its publications, the pre-check from the indicators the API shows (see
    `colours_for_gas_day`)."""
    colours, received_at = dict(colours), utc(received_at)
    outcome = Feasibility(FeasibilityStatus.ACCEPTED, site.ref, colours, profile.gas_day)
    if received_at < automatic_acceptance_deadline(profile.gas_day):
        # Reading: §3.1 comes first, even when a shortage for the day is already known
        # (§4's example triggers one at J-1 20h30): §4 switches off ("débrayage") the
        # functional validation, which §3.1 does not run; the pastille turns grey at 05h52.
        return outcome
    if Colour.GREY in colours.values():
        # §4: shortage switches validation off for every new program: all are refused.
        return _refused(outcome, [RefusalDetail(Refusal.GRAY_INDICATOR)])
    refusals = _indicator_refusals(profile, site, history, colours, received_at)
    return _refused(outcome, refusals) if refusals else outcome


def _refused(outcome: Feasibility, refusals: Sequence[RefusalDetail]) -> Feasibility:
    return replace(outcome, status=FeasibilityStatus.REFUSED, refusals=tuple(refusals))


def _indicator_refusals(
    profile: InputHmsProfile,
    site: Site,
    history: Sequence[HmsProfile],
    colours: Mapping[Indicator, Colour],
    received_at: datetime,
) -> list[RefusalDetail]:
    """§3.2.3: the rules of red indicators over the controlled slots (green: compliant).

    The reference is "le dernier Programme confirmé": every accepted program received so
    far, one received at this very instant but earlier included (`received_by`).
    """
    window = controlled_slots(profile.gas_day, received_at)
    new = [quantity or 0.0 for quantity in profile.quantities]
    reference = _quantities_or_zero(rebuild(received_by(history, received_at)))
    refusals: list[RefusalDetail] = []
    lower = tuple(slot for slot in window if new[slot] < reference[slot])
    higher = tuple(slot for slot in window if new[slot] > reference[slot])
    if lower and colours[Indicator.Q_TO_Q_MINUS] is Colour.RED:  # §3.2.3.2 1.
        refusals.append(RefusalDetail(Refusal.Q0_DELAY, lower))
    if higher and colours[Indicator.Q_TO_Q_PLUS] is Colour.RED:  # §3.2.3.2 2.
        if colours[Indicator.PARTIAL] is Colour.RED:  # 2.a.ii, 2.b.ii
            refusals.append(RefusalDetail(Refusal.QMAX_DELAY, higher))
        elif not _within_partial_flexibility(profile, site, history, new, received_at):
            refusals.append(RefusalDetail(Refusal.FLEXIBILITY_TOLERANCE))  # 2.a.i, 2.b.i
    return refusals


def _within_partial_flexibility(
    profile: InputHmsProfile,
    site: Site,
    history: Sequence[HmsProfile],
    new: Sequence[float],
    received_at: datetime,
) -> bool:
    """§3.2.3.2 2.a.i, 2.b.i: the window's total "inférieur ou égal" to that of the program
    in force before the start of H-1 (or H), plus 0.8 GWh per unit.

    Summed over the window's real hours (a slot holding two counts twice), in decimals:
    `exact_kwh` gives back each value's decimal text, as GRTgaz reads the JSON, so a total
    exactly at the allowance is never pushed over it by binary rounding.
    """
    baseline = _quantities_or_zero(rebuild(history, before=controlled_window_start(received_at)))
    slots = window_slots(profile.gas_day, received_at)
    total_new = sum((exact_kwh(new[slot]) for slot in slots), Decimal(0))
    total_before = sum((exact_kwh(baseline[slot]) for slot in slots), Decimal(0))
    return total_new <= total_before + PARTIAL_FLEXIBILITY_KWH_PER_UNIT * site.units


def exact_kwh(quantity: float) -> Decimal:
    """The decimal a JSON number was written as: `repr` is the shortest text that reads
    back as the same float, which is the JSON's own text for the up to 15 significant
    digits a kWh value with two decimals has (15236.87 -> Decimal("15236.87"))."""
    return Decimal(repr(float(quantity)))


def _quantities_or_zero(quantities: Sequence[float] | None) -> Sequence[float]:
    # Reading: a site with no accepted program yet is taken as programmed at 0.
    return quantities if quantities is not None else [0.0] * SLOTS


# --- the rebuilt ("reference") program (chapter 2) ------------------------------------------


def rebuild(history: Iterable[HmsProfile], before: datetime | None = None) -> list[float] | None:
    """The rebuilt program of one site and gas day from its stored programs (§5 to §9).

    Accepted programs only, received strictly before `before`, in reception order: one
    received before the day replaces all 24 hours (§5); one received during the day only
    the current hour on, H-1 before H+15 min (§6, §7), past hours kept (§8). Programs
    received at the same instant apply in version order: §2.2 makes a later declaration's
    version higher, and in one declaration the highest version wins (§9).
    None when no accepted program counts yet.
    """
    cutoff = None if before is None else utc(before)
    accepted = sorted(
        (
            profile
            for profile in history
            if profile.accepted and (cutoff is None or profile.processing_datetime < cutoff)
        ),
        key=lambda profile: (profile.processing_datetime, profile.profile_id.version),
    )
    rebuilt: list[float] | None = None
    for profile in accepted:
        values = profile.declared.quantities
        first = first_adjustable_slot(profile.declared.gas_day, profile.processing_datetime)
        if rebuilt is None:
            # Reading: §8 keeps no past hour of a program, even the first one: a day first
            # declared during the day is rebuilt at 0 (not null) before its current hour, as
            # a site with no program is taken at 0 (`_quantities_or_zero`) and §13.4's
            # quantity is a Double.
            rebuilt = [0.0] * SLOTS
        for slot in range(first, SLOTS):
            rebuilt[slot] = values[slot] or 0.0  # never None here: BAD_QUANTITIES
    return rebuilt


@dataclass(frozen=True)
class RebuiltSlot:
    start: datetime  # naive Paris wall-clock label
    quantity: float
    energy_low: float
    energy_high: float
    volume_low: float
    volume_high: float

    def to_json(self) -> dict[str, Any]:
        return {
            "hourlySlotStartDateTime": format_timestamp(self.start),
            "quantity": self.quantity,
            "energyLowThresholds": self.energy_low,
            "energyHighThresholds": self.energy_high,
            "volumeLowThresholds": self.volume_low,
            "volumeHighThresholds": self.volume_high,
        }


@dataclass(frozen=True)
class RebuiltHmsProfile:
    """§13.4's rebuiltHmsProfile. Reading: the four thresholds are per hour (ASSUMED)."""

    hms_site_id: str
    hms_site_label: str
    connection_contract_code: str
    gas_day: date
    processing_datetime: datetime
    slots: tuple[RebuiltSlot, ...]

    @property
    def hms_profile_id(self) -> str:
        return rebuilt_profile_id(self.gas_day, self.hms_site_id)

    @property
    def quantities(self) -> tuple[float, ...]:
        return tuple(slot.quantity for slot in self.slots)

    def to_json(self) -> dict[str, Any]:
        return {
            "hmsProfileId": self.hms_profile_id,
            "processingDateTime": format_timestamp(self.processing_datetime),
            "hmsSiteId": self.hms_site_id,
            "hmsSiteLabel": self.hms_site_label,
            "connectionContractCode": self.connection_contract_code,
            "gasDay": self.gas_day.isoformat(),
            "hourlyQuantities": [slot.to_json() for slot in self.slots],
        }


def received_by(history: Iterable[HmsProfile], moment: datetime) -> list[HmsProfile]:
    """The programs received up to `moment` included, in arrival order."""
    return [profile for profile in history if profile.processing_datetime <= utc(moment)]


def rebuilt_profile(
    site: Site, gas_day: date, history: Sequence[HmsProfile], as_of: datetime
) -> RebuiltHmsProfile | None:
    """The rebuilt program the API shows at `as_of` (programs received until then
    included), or None if none exists yet."""
    known = received_by(history, as_of)
    quantities = rebuild(known)
    if quantities is None:
        return None
    processed = max(profile.processing_datetime for profile in known if profile.accepted)
    slots = tuple(
        _rebuilt_slot(site, label, quantity)
        for label, quantity in zip(slot_labels(gas_day), quantities, strict=True)
    )
    return RebuiltHmsProfile(
        site.site_id, site.ref.site_label, site.contract_code, gas_day, processed, slots
    )


def _rebuilt_slot(site: Site, label: datetime, quantity: float) -> RebuiltSlot:
    low, high = quantity * (1 - site.tolerance), quantity * (1 + site.tolerance)
    return RebuiltSlot(label, quantity, low, high, low / PCS_KWH25_PER_M3, high / PCS_KWH25_PER_M3)


# --- technical checks (§2) and a declaration end to end -------------------------------------


@dataclass(frozen=True)
class TechnicalProblem:
    """One reason a declaration is rejected (§2), for one of its programs."""

    rejection: Rejection
    hms_profile_id: str  # or "#<position>" when the program has no readable id
    slots: tuple[int, ...] = ()
    detail: str = ""
    gas_day: date | None = None  # to name the slots

    @property
    def message(self) -> str:
        text = REJECTION_MESSAGES[self.rejection]
        if "%s" not in text:
            return text
        if self.slots and self.gas_day is not None:
            return text % format_slots(self.slots, self.gas_day)
        return text % self.detail


def error_json(problems: Sequence[TechnicalProblem], code: int = 400) -> dict[str, Any]:
    """§13.6's error object; the message names each rejected program and why."""
    message = " ; ".join(f"{problem.hms_profile_id} : {problem.message}" for problem in problems)
    return {"code": code, "message": message}


def parse_declaration(body: Any) -> tuple[list[InputHmsProfile], list[TechnicalProblem]]:
    """§14.6's request body, `{"hmsProfiles": [...]}` (a bare list is taken too)."""
    items = body.get("hmsProfiles") if isinstance(body, Mapping) else body
    if not isinstance(items, list) or not items:
        problem = TechnicalProblem(Rejection.BAD_FORMAT, "hmsProfiles", detail="liste vide")
        return [], [problem]
    profiles: list[InputHmsProfile] = []
    problems: list[TechnicalProblem] = []
    for position, item in enumerate(items):
        try:
            profiles.append(InputHmsProfile.from_json(item))
        except FormatError as error:
            name = item.get("hmsProfileId") if isinstance(item, Mapping) else None
            label = name if isinstance(name, str) else f"#{position + 1}"
            problems.append(TechnicalProblem(Rejection.BAD_FORMAT, label, detail=str(error)))
    return profiles, problems


def check_declaration(
    profiles: Sequence[InputHmsProfile],
    received_at: datetime,
    sites: Mapping[str, Site] | None,
    stored: Iterable[ProfileId] = (),
) -> list[TechnicalProblem]:
    """§2.2 to §2.5 for each program; any problem rejects the whole declaration (§2.6).

    `sites`: the known sites (each knows its contract); None skips §2.3 and checks §2.4
    against each program's own qMin/qMax (the offline pre-check). `stored`: ids already
    received (accepted or refused).
    """
    stored, received_at = list(stored), utc(received_at)
    problems: list[TechnicalProblem] = []
    seen: set[str] = {str(profile_id) for profile_id in stored}
    for profile in profiles:
        problems += _check_one(profile, received_at, sites, stored, seen)
        seen.add(profile.hms_profile_id)
    return problems


def _check_one(
    profile: InputHmsProfile,
    received_at: datetime,
    sites: Mapping[str, Site] | None,
    stored: Sequence[ProfileId],
    seen: set[str],
) -> list[TechnicalProblem]:
    """One reason per program, the first that fails of the checks below.

    Reading: the contract orders no checks (§2 lists them, §13.6 adds codes without a
    section). Each check here needs the ones before it to be judged: the site (§2.3, it
    holds Min and Max), the day (a past gas day is not adjusted at all), the id and
    version (§2.2), 24 values (§13.2) on the day's hours (§2.5), no null future value,
    then Min and Max (§2.4), which names hours. So a value above qMax received after the
    gas day is PAST_GAS_DAY, and a reused id with a null future value is
    HMS_PROFILE_ID_ALREADY_EXISTS.
    """

    def problem(
        rejection: Rejection, slots: Sequence[int] = (), detail: str = ""
    ) -> TechnicalProblem:
        return TechnicalProblem(rejection, profile.hms_profile_id, tuple(slots), detail, day)

    day = profile.gas_day
    site = _site_for(profile, sites)
    if sites is not None and site is None:
        return [problem(Rejection.UNKNOWN_HMS_SITE)]  # §2.3
    if received_at >= gas_day_start(day + timedelta(days=1)):
        return [problem(Rejection.PAST_GAS_DAY)]
    found = _version_problem(profile, stored, seen, problem)
    if found is not None:
        return [found]
    if len(profile.slots) != SLOTS:
        return [problem(Rejection.BAD_NUMBER_QUANTITIES)]  # §13.2
    if sorted(slot.start for slot in profile.slots) != list(slot_labels(day)):
        return [problem(Rejection.HOURS_NOT_BETWEEN_START_END)]  # §2.5
    return _quantity_problems(profile, site, received_at, problem)


def _site_for(profile: InputHmsProfile, sites: Mapping[str, Site] | None) -> Site | None:
    """§2.3: the site must exist and belong to the contract the declaration names."""
    site = (sites or {}).get(profile.hms_site_id)
    if site is None or site.contract_code != profile.connection_contract_code:
        return None
    return site


def _version_problem(
    profile: InputHmsProfile,
    stored: Sequence[ProfileId],
    seen: set[str],
    problem: Callable[..., TechnicalProblem],
) -> TechnicalProblem | None:
    """§2.2: a known id is refused; so is a version not above the last one received.

    Reading: versions count per site and gas day (the id carries both); programs of the
    same declaration only need distinct ids, the highest version winning (§9).
    """
    if profile.hms_profile_id in seen:
        return problem(Rejection.HMS_PROFILE_ID_ALREADY_EXISTS)
    new = profile.profile_id
    versions = [p.version for p in stored if (p.gas_day, p.site_id) == (new.gas_day, new.site_id)]
    if versions and new.version <= max(versions):
        return problem(Rejection.VERSION_NOT_INCREASING, detail=str(max(versions)))
    return None


def _quantity_problems(
    profile: InputHmsProfile,
    site: Site | None,
    received_at: datetime,
    problem: Callable[..., TechnicalProblem],
) -> list[TechnicalProblem]:
    quantities = profile.quantities
    first_future = first_adjustable_slot(profile.gas_day, received_at)
    # Reading: "valeurs nulles pour les heures futures" are JSON nulls: past hours may be
    # left out (§8 ignores them), the current and future ones may not.
    missing = [slot for slot in range(first_future, SLOTS) if quantities[slot] is None]
    if missing:
        return [problem(Rejection.BAD_QUANTITIES, missing)]
    bounds = site or _own_bounds(profile)
    outside = [
        slot
        for slot, quantity in enumerate(quantities)
        if quantity is not None
        and not bounds.accepts_quantity(quantity)
        and not _added_slot_at_zero(profile.gas_day, slot, quantity)
    ]
    return [problem(Rejection.EXEDED_QMIN_QMAX, outside)] if outside else []  # §2.4


def _added_slot_at_zero(day: date, slot: int, quantity: float) -> bool:
    """§13.2: the 23-hour day's added slot is no real hour and carries the 0 it asks for."""
    return slot == FILLER_SLOT and quantity == 0 and gas_day_hours(day) == 23


def _own_bounds(profile: InputHmsProfile) -> Site:
    """Without the contract at hand, the program's own qMin/qMax stand for the site's."""
    ref = SiteRef(profile.hms_site_id, profile.hms_site_label, "", "")
    return Site(ref, profile.connection_contract_code, 1, profile.q_min, profile.q_max)


@dataclass(frozen=True)
class DeclarationOutcome:
    """Either the problems that reject the whole declaration, or the programs stored."""

    problems: tuple[TechnicalProblem, ...] = ()
    stored: tuple[HmsProfile, ...] = ()

    @property
    def rejected(self) -> bool:
        return bool(self.problems)


def process_declaration(
    body: Any,
    received_at: datetime,
    sites: Mapping[str, Site],
    history: Sequence[HmsProfile],
    publications_for: Callable[[Site], Sequence[Publication]],
) -> DeclarationOutcome:
    """What GRTgaz does with a POST /hmsProfiles body: §2 on the batch, then §3 each.

    Every program of a declaration is assessed against the programs stored before it,
    not against its siblings: they share one reception time, and §9 keeps the highest
    accepted version.
    """
    received_at = utc(received_at)
    profiles, problems = parse_declaration(body)
    problems += check_declaration(profiles, received_at, sites, [p.profile_id for p in history])
    if problems:
        return DeclarationOutcome(problems=tuple(problems))
    stored = []
    for profile in profiles:
        site = sites[profile.hms_site_id]
        same_day = [p for p in history if _same_site_day(p.declared, profile)]
        feasibility = assess_feasibility(
            profile, site, same_day, publications_for(site), received_at
        )
        stored.append(HmsProfile(profile, received_at, feasibility))
    return DeclarationOutcome(stored=tuple(stored))


def _same_site_day(a: InputHmsProfile, b: InputHmsProfile) -> bool:
    return (a.hms_site_id, a.gas_day) == (b.hms_site_id, b.gas_day)


# --- e-mail fallback (chapter 6) ------------------------------------------------------------


def email_subject(site_label: str, first_day: date) -> str:
    """§18: "[Nom du Site] Prévisions SFM : Date du Jour J – Date du Jour J+2"."""
    last_day = first_day + timedelta(days=2)
    return f"[{site_label}] Prévisions SFM : {first_day:%d/%m/%Y} – {last_day:%d/%m/%Y}"


def email_csv(profile: InputHmsProfile, created_at: datetime | None = None) -> tuple[str, str]:
    """§18, §19: (file name, CSV text) of one program for the e-mail fallback.

    Readings: the creation time defaults to the declaration time (§19 gives both as the
    same field); times are HHMMSS as §19's example "193355" (its format column says
    HHMMSSsmsms); the file name's 15-character "20XXXXXXXXXXXXX" is read as the 14-digit
    YYYYMMDDHHMMSS; line 1's field 7 repeats the gas day, as its format and example do
    (its comment says "heure de déclaration"); "champ n°11 à 35" carry §19's "liste de 24
    valeurs", so 24 hourly values end line 2 (35 would be 25 fields).
    """
    created = (created_at or profile.declaration_datetime).astimezone(PARIS)
    day, made = f"{profile.gas_day:%d/%m/%Y}", f"{created:%d/%m/%Y}"
    clock = f"{created:%H%M%S}"
    header = ["DECLARATIONS_CCG", made, clock, "UPLOAD", "PROD", day, day]
    program = [
        profile.hms_profile_id, day, profile.hms_site_id, profile.hms_site_label,
        made, clock, made, clock, _csv_number(profile.q_min), _csv_number(profile.q_max),
        *(_csv_number(quantity) for quantity in profile.quantities),
    ]  # fmt: skip
    text = io.StringIO()
    writer = csv.writer(text, delimiter=CSV_SEPARATOR, lineterminator="\r\n")
    writer.writerows([header, program])
    name = f"Export_DECLARATIONS_CCG-UPLOAD-{profile.gas_day:%Y%m%d}_{created:%Y%m%d%H%M%S}.csv"
    return name, text.getvalue()


def _csv_number(value: float | None) -> str:
    """ "10000" rather than "10000.0"; a decimal point (ASSUMED, like the separator)."""
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else repr(float(value))
