"""The SFM rules against seed 001's worked examples, its timing rules and its checks."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from pipelines.sfm_rules import (
    ALL_GREEN,
    PARIS,
    SHORTAGE,
    SLOTS,
    Colour,
    DateError,
    Feasibility,
    FeasibilityStatus,
    HmsProfile,
    HourlySlot,
    Indicator,
    InputHmsProfile,
    ProfileId,
    Publication,
    Rejection,
    Site,
    SiteIndicators,
    SiteRef,
    assess_feasibility,
    assess_with_colours,
    automatic_acceptance_deadline,
    check_declaration,
    colours_for_gas_day,
    controlled_slots,
    email_csv,
    email_subject,
    error_json,
    first_adjustable_slot,
    format_timestamp,
    gas_day_hours,
    hour_index,
    hours_and_indicators,
    indicators_at,
    parse_timestamp,
    process_declaration,
    real_hours_to_slots,
    rebuild,
    rebuilt_profile,
    shortage_published,
    shortage_seen,
    slot_labels,
    window_slots,
)

DAY = date(2026, 11, 18)  # a 24-hour winter gas day
CONTRACT = "GFCCGE04"
QUIMPER = Site(SiteRef("LI1234", "Quimper", "ME0004", "Bretagne"), CONTRACT, 1, 50e3, 300e3)
SITES = {QUIMPER.site_id: QUIMPER}
Q_MINUS, Q_PLUS, PARTIAL = Indicator.Q_TO_Q_MINUS, Indicator.Q_TO_Q_PLUS, Indicator.PARTIAL
GREEN, RED, GREY = Colour.GREEN, Colour.RED, Colour.GREY
BASE = 100e3  # "une consommation de 100": 100 MWh an hour, in kWh25


def at(hour: int, minute: int = 0, day: date = DAY) -> datetime:
    """A Paris instant on calendar day `day`."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=PARIS)


def slot(hour: int) -> int:
    """The slot of gas day DAY starting at `hour` o'clock (06:00 is 0, 05:00 is 23)."""
    return (hour - 6) % 24


def timeline(*changes: tuple[datetime, Indicator, Colour]) -> list[Publication]:
    """Hourly publications around DAY, all green until each (hour H, indicator, colour)."""
    colours = dict.fromkeys(Indicator, GREEN)
    hour, end = at(0, day=DAY - timedelta(days=1)), at(8, day=DAY + timedelta(days=1))
    publications = []
    while hour < end:
        for changed_at, indicator, colour in changes:
            if changed_at == hour:
                colours[indicator] = colour
        publications.append(Publication(hour, dict(colours)))
        hour += timedelta(hours=1)
    return publications


def program(
    version: int,
    quantities: Sequence[float | None],
    declared_at: datetime,
    site: Site = QUIMPER,
    day: date = DAY,
) -> InputHmsProfile:
    return InputHmsProfile.build(site, day, version, quantities, declared_at)


def flat(value: float = BASE, **hours: float) -> list[float]:
    """24 values at `value`, with `h13=90e3`-style overrides by slot start hour."""
    values = [value] * SLOTS
    for name, quantity in hours.items():
        values[slot(int(name[1:]))] = quantity
    return values


def between(first_hour: int, last_hour: int, value: float, base: list[float]) -> list[float]:
    """`base` with `value` on the slots from first_hour to last_hour (excluded)."""
    values = list(base)
    hour = first_hour
    while hour != last_hour:
        values[slot(hour)] = value
        hour = (hour + 1) % 24
    return values


def declare(
    history: list[HmsProfile],
    profiles: Iterable[InputHmsProfile],
    received_at: datetime,
    publications: Sequence[Publication],
) -> list[HmsProfile]:
    """Process one declaration as the sandbox does and append what is stored."""
    body = {"hmsProfiles": [profile.to_json() for profile in profiles]}
    outcome = process_declaration(body, received_at, SITES, history, lambda _: publications)
    assert not outcome.rejected, error_json(outcome.problems)
    history.extend(outcome.stored)
    return list(outcome.stored)


def day_before_program(history: list[HmsProfile], publications: Sequence[Publication]) -> None:
    """'Le Site de Quimper a envoyé, le Jour J-1 à 15h, un Programme de 100.'"""
    [stored] = declare(history, [program(1, flat(), at(15, day=DAY - timedelta(days=1)))],
                       at(15, day=DAY - timedelta(days=1)), publications)  # fmt: skip
    assert stored.accepted


# --- §3.2.2: which indicator for which hour -------------------------------------------------


def test_3_2_2_quimper_higher_hour_uses_q_plus_and_partial_lower_hours_q_minus() -> None:
    """Sent at 10h17: 110 for 11h-12h and 90 for 12h-5h, after 100 declared in J-1."""
    new = between(12, 6, 90e3, between(11, 12, 110e3, flat()))
    governed = hours_and_indicators(new, flat(), range(slot(10), SLOTS))
    assert governed[slot(10)] == frozenset()
    assert governed[slot(11)] == {Q_PLUS, PARTIAL}
    assert all(governed[slot(hour)] == {Q_MINUS} for hour in [*range(12, 24), *range(0, 6)])


def test_3_2_2_quimper_checked_on_the_six_slots_after_quarter_past() -> None:
    publications = timeline((at(10), Q_MINUS, RED))  # Q -> Q- red, published 09h52
    history: list[HmsProfile] = []
    day_before_program(history, publications)
    new = between(12, 6, 90e3, between(11, 12, 110e3, flat()))
    [stored] = declare(history, [program(2, new, at(10, 17))], at(10, 17), publications)
    assert controlled_slots(DAY, at(10, 17)) == tuple(range(slot(10), slot(16)))
    assert stored.feasibility.status is FeasibilityStatus.REFUSED
    assert stored.feasibility.comment == (
        "Le programme ne respecte pas le délai de prévenance sur les heures "
        "12h-13h, 13h-14h, 14h-15h, 15h-16h. Indicateur de Flexibilité Q → Q- rouge"
    )


# --- §3.2.2.1: publication at H-8 min, application at H+15 min ----------------------------------


def test_3_2_2_1_example_1_a_change_to_red_waits_for_quarter_past() -> None:
    publications = timeline((at(10), Q_PLUS, RED), (at(11), PARTIAL, RED))
    before = indicators_at(publications, at(11, 14))
    assert before is not None
    assert before.colours_in_force == {Q_MINUS: GREEN, Q_PLUS: RED, PARTIAL: GREEN}
    assert before.next is not None and before.next[PARTIAL].status is RED
    assert before.next[PARTIAL].application == at(11, 15)
    after = indicators_at(publications, at(11, 15))
    assert after is not None and after.next is None
    assert after.colours_in_force[PARTIAL] is RED


def test_3_2_2_1_example_2_a_change_to_green_applies_at_once() -> None:
    publications = timeline((at(10), Q_PLUS, RED), (at(10), PARTIAL, RED), (at(11), PARTIAL, GREEN))
    assert _in_force(publications, at(10, 51))[PARTIAL] is RED
    shown = indicators_at(publications, at(10, 52))
    assert shown is not None and shown.next is None
    assert shown.colours_in_force == {Q_MINUS: GREEN, Q_PLUS: RED, PARTIAL: GREEN}
    assert shown.current[PARTIAL].application == at(10, 52)


def test_3_2_2_1_current_and_next_indicator_shown_between_publication_and_application() -> None:
    publications = timeline((at(11), Q_PLUS, RED))
    site = QUIMPER.ref

    def shown(moment: datetime) -> dict[str, Any]:
        indicators = indicators_at(publications, moment)
        assert indicators is not None
        return SiteIndicators(site, indicators).to_json()["siteIndicators"]

    first = shown(at(10, 30))
    assert set(first) == {"currentIndicator"}
    assert first["currentIndicator"]["qToQmaxFlexibilityIndicator"] == {
        "status": "GREEN",
        "availabilityDateTime": "2026-11-18T09:52:00.000Z",
        "applicationDateTime": "2026-11-18T10:15:00.000Z",
    }
    pending = shown(at(11))
    assert pending["currentIndicator"]["qToQmaxFlexibilityIndicator"]["status"] == "GREEN"
    assert pending["nextIndicator"]["qToQmaxFlexibilityIndicator"] == {
        "status": "RED",
        "availabilityDateTime": "2026-11-18T10:52:00.000Z",
        "applicationDateTime": "2026-11-18T11:15:00.000Z",
    }
    assert pending["nextIndicator"]["siteId"] == "LI1234"
    applied = shown(at(11, 15))
    assert set(applied) == {"currentIndicator"}
    assert applied["currentIndicator"]["qToQmaxFlexibilityIndicator"]["status"] == "RED"
    assert applied["currentIndicator"]["qToQmaxFlexibilityIndicator"]["applicationDateTime"] == (
        "2026-11-18T11:15:00.000Z"
    )


def test_site_indicators_read_back_with_the_ocr_field_names() -> None:
    indicators = indicators_at(timeline((at(11), Q_PLUS, RED)), at(11))
    assert indicators is not None
    body = SiteIndicators(QUIMPER.ref, indicators).to_json()
    assert SiteIndicators.from_json(body) == SiteIndicators(QUIMPER.ref, indicators)
    current = body["siteIndicators"]["currentIndicator"]
    current["qToQ+FlexibilityIndicator"] = current.pop("qToQmaxFlexibilityIndicator")
    assert SiteIndicators.from_json(body).shown.colours_in_force[Q_PLUS] is GREEN


def _in_force(publications: Sequence[Publication], moment: datetime) -> dict[Indicator, Colour]:
    shown = indicators_at(publications, moment)
    assert shown is not None
    return shown.colours_in_force


# --- §3.2.3: the applicable indicator -------------------------------------------------------


def test_3_2_3_example_1_higher_hours_refused_when_q_plus_and_partial_are_red() -> None:
    publications = timeline((at(10), Q_PLUS, RED), (at(11), PARTIAL, RED))
    history: list[HmsProfile] = []
    day_before_program(history, publications)
    new = between(14, 20, 110e3, between(13, 14, 90e3, flat()))
    [stored] = declare(history, [program(2, new, at(12, 5))], at(12, 5), publications)
    assert controlled_slots(DAY, at(12, 5)) == tuple(range(slot(11), slot(18)))  # 7 slots
    assert stored.feasibility.status is FeasibilityStatus.REFUSED
    assert stored.feasibility.comment == (
        "Le programme ne respecte pas le délai de prévenance sur les heures "
        "14h-15h, 15h-16h, 16h-17h, 17h-18h. Indicateur de Flexibilité Q → Q+ rouge"
    )
    assert stored.feasibility.colours == {Q_MINUS: GREEN, Q_PLUS: RED, PARTIAL: RED}
    assert rebuild(history) == flat()  # a refused program leaves the reference as it was


def test_3_2_3_example_2_lower_hours_outside_the_window_are_not_controlled() -> None:
    publications = timeline((at(10), Q_MINUS, RED))
    history: list[HmsProfile] = []
    day_before_program(history, publications)
    new = between(18, 20, 90e3, between(13, 18, 110e3, flat()))
    [stored] = declare(history, [program(2, new, at(12, 5))], at(12, 5), publications)
    assert stored.feasibility.status is FeasibilityStatus.ACCEPTED
    assert stored.feasibility.comment == "Programme accepté"
    assert rebuild(history) == new


def test_partial_flexibility_volume_counts_from_the_program_before_hour_h_minus_1() -> None:
    """§3.2.3.2 2.a.i: +0.8 GWh per unit over the window, against the program before H-1."""
    publications = timeline((at(10), Q_PLUS, RED))  # partial flexibility stays green
    history: list[HmsProfile] = []
    day_before_program(history, publications)
    first = between(12, 18, BASE + 100e3, flat())  # +600 MWh on 11h..16h
    assert declare(history, [program(2, first, at(11, 20))], at(11, 20), publications)[0].accepted
    second = between(12, 18, BASE + 140e3, flat())  # +840 MWh against the 11h program
    [stored] = declare(history, [program(3, second, at(12, 5))], at(12, 5), publications)
    assert stored.feasibility.status is FeasibilityStatus.REFUSED
    assert stored.feasibility.comment == (
        "Le programme est rejeté car il ne respecte pas le volume de Flexibilité partielle accordé"
    )


def test_partial_flexibility_volume_is_per_unit() -> None:
    two_units = Site(QUIMPER.ref, CONTRACT, 2, QUIMPER.q_min, QUIMPER.q_max)
    publications = timeline((at(10), Q_PLUS, RED))
    day_before = program(1, flat(), at(15, day=DAY - timedelta(days=1)), site=two_units)
    history = [HmsProfile(day_before, day_before.declaration_datetime, _accepted(two_units))]
    new = program(2, between(12, 18, BASE + 140e3, flat()), at(12, 5), site=two_units)
    feasibility = assess_feasibility(new, two_units, history, publications, at(12, 5))
    assert feasibility.status is FeasibilityStatus.ACCEPTED  # 840 MWh <= 2 x 800 MWh


def test_grey_shortage_refuses_every_new_program() -> None:
    publications = timeline(
        (at(10), Q_MINUS, GREY), (at(10), Q_PLUS, GREY), (at(10), PARTIAL, GREY)
    )
    history: list[HmsProfile] = []
    day_before_program(history, publications)
    [stored] = declare(history, [program(2, flat(), at(12, 5))], at(12, 5), publications)
    assert stored.feasibility.status is FeasibilityStatus.REFUSED
    assert stored.feasibility.comment == "Le programme est rejeté dû à une pénurie de Flexibilité"


def test_programs_before_j_minus_1_01h_are_accepted_whatever_the_indicators() -> None:
    """§3.1, read with "Jour" as the gas day: 01:00 of gas day J-1 is calendar J 01:00."""
    assert automatic_acceptance_deadline(DAY) == at(1)
    publications = timeline((at(0, day=DAY - timedelta(days=1)), Q_MINUS, RED))
    history = [_stored_at(flat(), at(15, day=DAY - timedelta(days=1)))]
    lower = program(2, flat(h6=60e3), at(0, 59))
    assert assess_feasibility(lower, QUIMPER, history, publications, at(0, 59)).status is (
        FeasibilityStatus.ACCEPTED
    )
    assert assess_feasibility(lower, QUIMPER, history, publications, at(1)).status is (
        FeasibilityStatus.REFUSED
    )
    assert controlled_slots(DAY, at(1, 5)) == (0,)  # H+5 reaches the 06h slot
    assert controlled_slots(DAY, at(0, 59)) == ()


# --- chapter 2: the rebuilt program -----------------------------------------------------------


@pytest.mark.parametrize(("hour", "minute", "first_hour"), [(14, 35, 14), (14, 8, 13)])
def test_7_first_adjustable_slot(hour: int, minute: int, first_hour: int) -> None:
    """§7: declared at 14h35 -> from the 14h-15h slot; at 14h08 -> from 13h-14h."""
    publications = timeline()
    history: list[HmsProfile] = []
    day_before_program(history, publications)
    declared = at(hour, minute)
    declare(history, [program(2, flat(120e3), declared)], declared, publications)
    assert first_adjustable_slot(DAY, declared) == slot(first_hour)
    expected = [BASE] * slot(first_hour) + [120e3] * (SLOTS - slot(first_hour))
    assert rebuild(history) == expected
    assert rebuild(history, before=declared) == flat()  # as it stood just before


def test_8_past_hours_of_an_accepted_program_are_not_kept() -> None:
    publications = timeline()
    history: list[HmsProfile] = []
    day_before_program(history, publications)
    past_changed = between(6, 12, 60e3, flat(150e3))
    declare(history, [program(2, past_changed, at(12, 30))], at(12, 30), publications)
    assert rebuild(history) == between(12, 6, 150e3, flat())


def test_8_past_hours_may_be_null() -> None:
    publications = timeline()
    history: list[HmsProfile] = []
    day_before_program(history, publications)
    values: list[float | None] = [None] * slot(11) + [120e3] * (SLOTS - slot(11))
    [stored] = declare(history, [program(2, values, at(12, 10))], at(12, 10), publications)
    assert stored.accepted
    assert rebuild(history) == between(11, 6, 120e3, flat())


def test_9_highest_version_of_a_declaration_wins() -> None:
    publications = timeline()
    history: list[HmsProfile] = []
    day_before_program(history, publications)
    v3, v2 = program(3, flat(130e3), at(9, 30)), program(2, flat(120e3), at(9, 30))
    stored = declare(history, [v3, v2], at(9, 30), publications)
    assert [profile.accepted for profile in stored] == [True, True]
    assert rebuild(history) == [BASE] * slot(9) + [130e3] * (SLOTS - slot(9))


def test_5_last_program_before_the_day_is_the_rebuilt_program() -> None:
    publications = timeline()
    history: list[HmsProfile] = []
    day_before_program(history, publications)
    late = at(23, day=DAY - timedelta(days=1))
    declare(history, [program(2, flat(140e3), late)], late, publications)
    rebuilt = rebuilt_profile(QUIMPER, DAY, history, as_of=at(12))
    assert rebuilt is not None and rebuilt.quantities == tuple(flat(140e3))
    body = rebuilt.to_json()
    assert body["hmsProfileId"] == "20261118-LI1234"
    assert body["processingDateTime"] == "2026-11-17T23:00:00.000Z"
    assert body["hourlyQuantities"][0]["hourlySlotStartDateTime"] == "2026-11-18T06:00:00.000Z"
    assert rebuilt_profile(QUIMPER, DAY, history, as_of=at(14, day=DAY - timedelta(days=1))) is None


# --- §13.2: 23- and 25-hour gas days ---------------------------------------------------------

SPRING, AUTUMN = date(2026, 3, 28), date(2026, 10, 24)  # the nights of the DST changes


def test_13_2_gas_day_lengths() -> None:
    assert [gas_day_hours(day) for day in (SPRING, DAY, AUTUMN)] == [23, 24, 25]


def test_13_2_23_hour_day_adds_the_3h_slot_at_zero() -> None:
    slots = real_hours_to_slots(SPRING, [float(hour) for hour in range(1, 24)])
    assert len(slots) == SLOTS and slots[slot(3)] == 0.0
    assert sum(slots) == sum(range(1, 24))  # "le Programme total journalier" is unchanged
    sunday = SPRING + timedelta(days=1)
    assert hour_index(SPRING, at(1, 30, sunday)) == slot(1)
    assert hour_index(SPRING, at(4, 30, sunday)) == slot(4)
    assert hour_index(SPRING, at(5, 59, sunday)) == slot(5)


def test_13_2_25_hour_day_takes_the_max_of_both_2h_slots() -> None:
    hourly = [BASE] * 25
    hourly[20], hourly[21] = 120e3, 140e3  # 02:00 CEST then 02:00 CET
    slots = real_hours_to_slots(AUTUMN, hourly)
    assert len(slots) == SLOTS and slots[slot(2)] == 140e3 and slots[slot(3)] == BASE
    sunday = AUTUMN + timedelta(days=1)
    first_two = datetime(2026, 10, 25, 2, 30, tzinfo=PARIS, fold=0)
    second_two = datetime(2026, 10, 25, 2, 30, tzinfo=PARIS, fold=1)
    assert hour_index(AUTUMN, first_two) == hour_index(AUTUMN, second_two) == slot(2)
    assert hour_index(AUTUMN, at(3, 30, sunday)) == slot(3)


@pytest.mark.parametrize("day", [SPRING, AUTUMN])
def test_13_2_programs_of_short_and_long_days_have_24_slots(day: date) -> None:
    received = at(15, day=day - timedelta(days=1))
    values = real_hours_to_slots(day, [BASE] * gas_day_hours(day))  # 23 h: slot 21 at 0
    profile = program(1, values, received, day=day)
    assert check_declaration([profile], received, SITES) == []
    assert [label.hour for label in slot_labels(day)] == [*range(6, 24), *range(0, 6)]


# --- §2: technical checks ---------------------------------------------------------------------


def test_2_valid_program_passes_and_round_trips_through_json() -> None:
    profile = program(1, flat(), at(15, day=DAY - timedelta(days=1)))
    assert check_declaration([profile], at(16, day=DAY - timedelta(days=1)), SITES) == []
    assert InputHmsProfile.from_json(profile.to_json()) == profile
    assert profile.to_json()["hmsProfileId"] == "20261118-LI1234-GFCCGE04-1"


def _rejections(
    profiles: Sequence[InputHmsProfile] | dict[str, Any],
    received: datetime | None = None,
    stored: Sequence[ProfileId] = (),
) -> list[tuple[Rejection, tuple[int, ...]]]:
    """The (rejection, slots) pairs of one declaration, `stored` already received."""
    history = [_stored_profile(profile_id) for profile_id in stored]
    if isinstance(profiles, dict):
        body = profiles
    else:
        body = {"hmsProfiles": [profile.to_json() for profile in profiles]}
    outcome = process_declaration(body, received or at(10), SITES, history, lambda _: timeline())
    return [(problem.rejection, problem.slots) for problem in outcome.problems]


def _stored_profile(profile_id: ProfileId) -> HmsProfile:
    declared = InputHmsProfile.build(QUIMPER, profile_id.gas_day, profile_id.version, flat(), at(9))
    return HmsProfile(declared, at(9), _accepted(QUIMPER))


def _accepted(site: Site) -> Feasibility:
    return Feasibility(FeasibilityStatus.ACCEPTED, site.ref, ALL_GREEN, DAY)


def _stored_at(quantities: Sequence[float], received: datetime, version: int = 1) -> HmsProfile:
    """An accepted program of QUIMPER for DAY, as stored at `received`."""
    declared = InputHmsProfile.build(QUIMPER, DAY, version, quantities, received)
    return HmsProfile(declared, received, _accepted(QUIMPER))


def test_2_1_bad_format_rejected() -> None:
    body = program(2, flat(), at(9)).to_json()
    for key, value in [
        ("unit", "kWh"),
        ("qMin", "10"),
        ("gasDay", "2026-11-19"),
        ("hmsSiteId", None),
    ]:
        broken = body | {key: value}
        assert _rejections({"hmsProfiles": [broken]}) == [(Rejection.BAD_FORMAT, ())], key
    assert _rejections({"hmsProfiles": []}) == [(Rejection.BAD_FORMAT, ())]
    assert _rejections({"other": 1}) == [(Rejection.BAD_FORMAT, ())]


def test_2_2_known_id_and_non_increasing_version_rejected() -> None:
    stored = [ProfileId(DAY, "LI1234", CONTRACT, 3)]
    assert _rejections([program(3, flat(), at(9))], stored=stored) == [
        (Rejection.HMS_PROFILE_ID_ALREADY_EXISTS, ())
    ]
    assert _rejections([program(2, flat(), at(9))], stored=stored) == [
        (Rejection.VERSION_NOT_INCREASING, ())
    ]
    twice = [program(4, flat(), at(9)), program(4, flat(), at(9))]
    assert _rejections(twice, stored=stored) == [(Rejection.HMS_PROFILE_ID_ALREADY_EXISTS, ())]
    assert _rejections([program(4, flat(), at(9))], stored=stored) == []


def test_2_3_site_unknown_or_outside_the_contract_rejected() -> None:
    stranger = Site(SiteRef("LI9999", "Ailleurs", "ME0001", "Nord"), CONTRACT, 1, 0, 1e6)
    assert _rejections([program(2, flat(), at(9), site=stranger)]) == [
        (Rejection.UNKNOWN_HMS_SITE, ())
    ]
    other_contract = Site(QUIMPER.ref, "GFAUTRE01", 1, 0, 1e6)
    assert _rejections([program(2, flat(), at(9), site=other_contract)]) == [
        (Rejection.UNKNOWN_HMS_SITE, ())
    ]


def test_2_4_hours_beyond_min_max_and_tolerance_rejected() -> None:
    over = flat(h7=300e3 * 1.06, h8=300e3 * 1.04, h9=0.0, h10=50e3 * 0.9)  # 5 % tolerance
    assert _rejections([program(2, over, at(9))], received=at(5)) == [
        (Rejection.EXEDED_QMIN_QMAX, (slot(7), slot(9), slot(10)))
    ]
    body = process_declaration({"hmsProfiles": [program(2, over, at(9)).to_json()]}, at(5), SITES, [],
                               lambda _: timeline())  # fmt: skip
    assert error_json(body.problems) == {
        "code": 400,
        "message": "20261118-LI1234-GFCCGE04-2 : Pour les heures 7h-8h, 9h-10h, 10h-11h "
        "dépassement de la valeur [Qmin/Qmax]",
    }


def test_2_5_slots_of_another_day_or_not_24_rejected() -> None:
    profile = program(2, flat(), at(9))
    other_day = InputHmsProfile.build(QUIMPER, DAY + timedelta(days=1), 2, flat(), at(9))
    shifted = replace_slots(profile, other_day.slots)
    assert _rejections([shifted]) == [(Rejection.HOURS_NOT_BETWEEN_START_END, ())]
    assert _rejections([replace_slots(profile, profile.slots[:23])]) == [
        (Rejection.BAD_NUMBER_QUANTITIES, ())
    ]


def test_null_future_hours_and_past_gas_day_rejected() -> None:
    values: list[float | None] = flat()
    values[slot(12)] = None
    assert _rejections([program(2, values, at(9))], received=at(10)) == [
        (Rejection.BAD_QUANTITIES, (slot(12),))
    ]
    past = program(2, flat(), at(9), day=DAY - timedelta(days=1))
    assert _rejections([past], received=at(6)) == [(Rejection.PAST_GAS_DAY, ())]


def test_2_6_one_bad_program_rejects_the_whole_declaration() -> None:
    good = program(2, flat(), at(9))
    bad = program(3, flat(h7=1e9), at(9))
    body = {"hmsProfiles": [good.to_json(), bad.to_json()]}
    outcome = process_declaration(body, at(9), SITES, [], lambda _: timeline())
    assert outcome.rejected and outcome.stored == ()
    assert [problem.hms_profile_id for problem in outcome.problems] == [bad.hms_profile_id]


def replace_slots(profile: InputHmsProfile, slots: Sequence[HourlySlot]) -> InputHmsProfile:
    return replace(profile, slots=tuple(slots))


# --- formats ----------------------------------------------------------------------------------


def test_timestamps_are_paris_wall_clock_with_a_literal_z() -> None:
    assert format_timestamp(at(9, 52)) == "2026-11-18T09:52:00.000Z"
    assert parse_timestamp("2026-11-18T09:52:00.000Z") == at(9, 52)
    assert parse_timestamp("2026-11-18T08:52:00+00:00") == at(9, 52)


def test_profile_id_with_dashes_and_dots_in_the_contract_code() -> None:
    parsed = ProfileId.parse("20200525-LI1234-RNE.GSTF.HKL.01-10")
    assert parsed == ProfileId(date(2020, 5, 25), "LI1234", "RNE.GSTF.HKL.01", 10)
    assert str(ProfileId.parse("20200525-LI1234-A-B-2")) == "20200525-LI1234-A-B-2"
    for bad in ("20200525-LI1234-C-0", "20200525-L1234-C-1", "2020-LI1234-C-1", "x"):
        with pytest.raises(ValueError):
            ProfileId.parse(bad)


def test_hms_profile_json_round_trip() -> None:
    history: list[HmsProfile] = []
    day_before_program(history, timeline())
    [stored] = history
    body = stored.to_json()
    assert list(body)[:3] == ["hmsProfileId", "declarationDateTime", "processingDateTime"]
    assert body["hmsProfileFeasibility"] == {
        "indicator": {
            "siteId": "LI1234", "siteLabel": "Quimper", "meshCode": "ME0004",
            "meshLabel": "Bretagne", "qTo0FlexibilityIndicator": "GREEN",
            "qToQmaxFlexibilityIndicator": "GREEN", "partialFlexibilityIndicator": "GREEN",
        },
        "hmsProfileFeasibilityStatus": "ACCEPTED",
        "comment": "Programme accepté",
    }  # fmt: skip
    again = HmsProfile.from_json(body)
    assert again.to_json() == body


def test_6_email_csv_file_name_and_columns() -> None:
    values = flat(h6=15236.87)
    profile = program(7, values, datetime(2026, 11, 17, 19, 33, 55, tzinfo=PARIS))
    name, text = email_csv(profile)
    assert name == "Export_DECLARATIONS_CCG-UPLOAD-20261118_20261117193355.csv"
    header, line = csv.reader(io.StringIO(text), delimiter=";")
    assert header == [
        "DECLARATIONS_CCG", "17/11/2026", "193355", "UPLOAD", "PROD", "18/11/2026", "18/11/2026"
    ]  # fmt: skip
    assert line[:10] == [
        "20261118-LI1234-GFCCGE04-7", "18/11/2026", "LI1234", "Quimper",
        "17/11/2026", "193355", "17/11/2026", "193355", "50000", "300000",
    ]  # fmt: skip
    assert len(line) == 10 + SLOTS and line[10] == "15236.87" and line[11] == "100000"
    assert email_subject("Quimper", DAY) == "[Quimper] Prévisions SFM : 18/11/2026 – 20/11/2026"


def test_offline_precheck_without_the_contract_uses_the_programs_own_bounds() -> None:
    """`gazoduc sfm check` may not know the contract: §2.4 then reads qMin/qMax of the file."""
    profile = InputHmsProfile.build(QUIMPER, DAY, 2, flat(h8=200e3), at(9), q_max=150e3)
    [problem] = check_declaration([profile], at(5), sites=None)
    assert (problem.rejection, problem.slots) == (Rejection.EXEDED_QMIN_QMAX, (slot(8),))


# --- issue 12: the readings where the contract leaves a choice --------------------------------


def test_13_2_s3_2_3_2_the_window_counts_real_hours_on_dst_days() -> None:
    """Reading: H-1 (or H) to H+5 in real hours. At 23:20 on the 23-hour day the six real
    hours 23h, 0h, 1h, 3h CEST, 4h, 5h skip the added 03:00 slot; on the 25-hour day the
    two 02:00 hours share one slot, which the partial-flexibility total counts twice."""
    spring, autumn = date(2020, 3, 28), date(2020, 10, 24)
    assert controlled_slots(spring, at(23, 20, spring)) == (17, 18, 19, 20, 22, 23)
    assert controlled_slots(autumn, at(23, 20, autumn)) == (17, 18, 19, 20, 21)
    assert window_slots(autumn, at(23, 20, autumn)) == [17, 18, 19, 20, 20, 21]
    assert len(window_slots(spring, at(23, 5, spring))) == 7  # before H+15 min: H-1 too


def test_3_1_automatic_acceptance_comes_before_a_shortage() -> None:
    """Reading: §4's shortage triggered at J-1 20h30 does not refuse a program for J
    received at J-1 21h00: §3.1 accepts it without the functional validation §4 disables."""
    evening = at(21, day=DAY - timedelta(days=1))
    profile = program(2, flat(), evening)
    before = assess_with_colours(profile, QUIMPER, [], SHORTAGE, evening)
    assert before.status is FeasibilityStatus.ACCEPTED
    after = assess_with_colours(profile, QUIMPER, [], SHORTAGE, at(1))
    assert after.comment == "Le programme est rejeté dû à une pénurie de Flexibilité"


def test_2_one_reason_per_program_in_the_order_of_the_checks() -> None:
    """Reading: past gas day before Min and Max; a reused id before a null future value."""
    over_qmax = program(2, flat(h8=1e9), at(9, day=DAY - timedelta(days=1)))
    after_the_day = at(7, day=DAY + timedelta(days=1))
    assert _rejections([over_qmax], received=after_the_day) == [(Rejection.PAST_GAS_DAY, ())]
    with_null: list[float | None] = flat()
    with_null[slot(20)] = None
    stored = [ProfileId(DAY, "LI1234", CONTRACT, 2)]
    assert _rejections([program(2, with_null, at(9))], at(10), stored) == [
        (Rejection.HMS_PROFILE_ID_ALREADY_EXISTS, ())
    ]


def test_8_rebuilt_slots_before_a_first_in_day_program_are_zero() -> None:
    """Reading: a day first declared at 12h30 is rebuilt at 0 (not null) before 12h."""
    publications = timeline()
    history: list[HmsProfile] = []
    declare(history, [program(1, flat(), at(12, 30))], at(12, 30), publications)
    rebuilt = rebuilt_profile(QUIMPER, DAY, history, as_of=at(13))
    assert rebuilt is not None
    assert rebuilt.quantities == (0.0,) * slot(12) + (BASE,) * (SLOTS - slot(12))
    assert rebuilt.to_json()["hourlyQuantities"][0]["quantity"] == 0.0


def test_4_shortage_is_seen_by_the_pre_check_in_a_stored_program_of_the_day() -> None:
    """The API shows only the current pastille: a stored program checked during the
    shortage tells the pre-check it still holds once the pastille is green again."""
    green_again = indicators_at(
        timeline((at(9), Q_PLUS, GREY), (at(10), Q_PLUS, GREEN)), at(10, 30)
    )
    assert green_again is not None and GREY not in green_again.colours_in_force.values()
    during = Feasibility(FeasibilityStatus.REFUSED, QUIMPER.ref, SHORTAGE, DAY)
    stored = HmsProfile(program(2, flat(), at(9, 20)), at(9, 20), during)
    assert shortage_seen(green_again.current, DAY, [stored])
    assert not shortage_seen(green_again.current, DAY, [])


def test_4_a_grey_of_another_gas_day_restricts_nothing() -> None:
    grey_all_day = [(at(6), indicator, GREY) for indicator in Indicator]
    publications = timeline(*grey_all_day)  # DAY's publications, from the 06h one on
    shown = indicators_at(publications, at(2, day=DAY + timedelta(days=1)))
    assert shown is not None and set(shown.colours_in_force.values()) == {GREY}
    next_day = DAY + timedelta(days=1)
    assert colours_for_gas_day(shown.current, next_day, shortage=False) == ALL_GREEN
    assert shortage_published(publications, DAY, at(6, 15))
    assert not shortage_published(publications, DAY, at(6, 14))  # applies at H+15 min
    assert not shortage_published(publications, next_day, at(2, day=next_day))


def test_3_2_2_1_dst_night_publication_times_are_real_time() -> None:
    """The publication for 02:00 CET on 2020-10-25 is made at 00:52 UTC (02:52 CEST)."""
    second_two = datetime(2020, 10, 25, 2, tzinfo=PARIS, fold=1)
    publication = Publication(second_two, dict(ALL_GREEN))
    assert publication.published_at == datetime(2020, 10, 25, 0, 52, tzinfo=UTC)
    assert publication.applies_at == datetime(2020, 10, 25, 1, 15, tzinfo=UTC)
    assert format_timestamp(publication.published_at) == "2020-10-25T02:52:00.000Z"


def test_2_1_dates_beyond_the_calendar_are_date_errors() -> None:
    body = program(1, flat(), at(9)).to_json()
    for key, value in [
        ("gasDay", "9999-12-31"),
        ("gasDay", "0001-01-01"),
        ("gasDay", "2026-02-30"),
    ]:
        with pytest.raises(DateError, match=key):
            InputHmsProfile.from_json(body | {key: value})
    with pytest.raises(DateError):
        InputHmsProfile.from_json(body | {"declarationDateTime": "0001-01-01T00:05:00.000Z"})
    outcome = process_declaration({"hmsProfiles": [body | {"gasDay": "9999-12-31"}]}, at(9),
                                  SITES, [], lambda _: timeline())  # fmt: skip
    assert [problem.rejection for problem in outcome.problems] == [Rejection.BAD_FORMAT]
