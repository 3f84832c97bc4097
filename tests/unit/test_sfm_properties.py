"""Properties of the SFM rules that hold whatever the reading of seed 001 (issue 12)."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.sfm_rules import (
    ALL_GREEN,
    PARIS,
    SLOTS,
    Colour,
    Feasibility,
    FeasibilityStatus,
    HmsProfile,
    Indicator,
    InputHmsProfile,
    Refusal,
    Site,
    SiteRef,
    assess_with_colours,
    automatic_acceptance_deadline,
    controlled_slots,
    gas_day_hours,
    gas_day_start,
    hour_index,
    real_hours,
    rebuild,
    received_by,
    slot_hours,
    window_slots,
)

FEW = settings(max_examples=200, deadline=None)
QUIMPER = Site(SiteRef("LI1234", "Quimper", "ME0004", "Bretagne"), "GFCCGE04", 1, 0.0, 3e6)
# A 24-hour day and the two DST days of 2026, where slots and real hours part ways.
DAYS = (date(2026, 11, 18), date(2026, 3, 28), date(2026, 10, 24))


def _last_sunday(year: int, month: int) -> date:
    last = date(year, month + 1, 1) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() + 1) % 7)


# The gas days holding the DST change (it happens on the Sunday night, in Saturday's gas day).
DST_DAYS = [
    _last_sunday(year, month) - timedelta(days=1) for year in range(2000, 2041) for month in (3, 10)
]
any_gas_day = st.one_of(
    st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 12, 31)), st.sampled_from(DST_DAYS)
)
# kWh with two decimals, as JSON carries them: the float of the decimal text.
kwh = st.integers(min_value=0, max_value=300_000_000).map(lambda cents: cents / 100)
programs = st.lists(kwh, min_size=SLOTS, max_size=SLOTS)
red_or_green = st.sampled_from([Colour.RED, Colour.GREEN])
colours = st.fixed_dictionaries({indicator: red_or_green for indicator in Indicator})


# --- slots and real hours ----------------------------------------------------------------------


@FEW
@given(day=any_gas_day, seconds=st.integers(min_value=0, max_value=3599))
def test_13_2_every_real_hour_maps_to_one_slot_and_back(day: date, seconds: int) -> None:
    hours = real_hours(day)
    assert len(hours) == gas_day_hours(day) in (23, 24, 25)
    slots = [hour_index(day, hour) for hour in hours]
    assert slots == sorted(slots) and all(0 <= slot < SLOTS for slot in slots)
    # 23 hours: one slot holds none; 25 hours: one holds two; never more.
    assert len(set(slots)) == min(len(hours), SLOTS) and max(Counter(slots).values()) <= 2
    for hour, slot in zip(hours, slots, strict=True):
        inside = (hour + timedelta(seconds=seconds)).astimezone(PARIS)  # fold set on the night
        assert hour_index(day, inside) == slot
    back = {slot: slot_hours(day, slot) for slot in range(SLOTS)}
    assert [hour for slot in range(SLOTS) for hour in back[slot]] == list(hours)
    assert all(hour in back[slot] for hour, slot in zip(hours, slots, strict=True))


# --- feasibility ---------------------------------------------------------------------------------


@st.composite
def histories(draw: st.DrawFn, day: date) -> list[HmsProfile]:
    """1 to 4 programs of QUIMPER for `day`, received in order from D-1 12h to the day's
    end (two may share an instant), each accepted or refused."""
    start = datetime.combine(day - timedelta(days=1), time(12), PARIS).timestamp()
    end = gas_day_start(day + timedelta(days=1)).timestamp()
    offsets = draw(st.lists(st.integers(0, int(end - start) // 60 - 1), min_size=1, max_size=4))
    history = []
    for version, minutes in enumerate(sorted(offsets), start=1):
        received = datetime.fromtimestamp(start + 60 * minutes, PARIS)
        declared = InputHmsProfile.build(QUIMPER, day, version, draw(programs), received)
        status = draw(st.sampled_from(FeasibilityStatus))
        feasibility = Feasibility(status, QUIMPER.ref, ALL_GREEN, day)
        history.append(HmsProfile(declared, received, feasibility))
    return history


@st.composite
def declarations(draw: st.DrawFn) -> tuple[date, list[HmsProfile], datetime]:
    """A day, its history, and an instant at or after the last program received, in the day."""
    day = draw(st.sampled_from(DAYS))
    history = draw(histories(day))
    last = history[-1].processing_datetime.timestamp()
    end = gas_day_start(day + timedelta(days=1)).timestamp()
    later = draw(st.integers(0, int(end - last) // 60 - 1))
    return day, history, datetime.fromtimestamp(last + 60 * later, PARIS)


@FEW
@given(case=declarations(), in_force=colours)
def test_3_the_rebuilt_program_declared_again_is_never_refused_outside_a_shortage(
    case: tuple[date, list[HmsProfile], datetime], in_force: dict[Indicator, Colour]
) -> None:
    day, history, received_at = case
    rebuilt = rebuild(received_by(history, received_at)) or [0.0] * SLOTS
    same = InputHmsProfile.build(QUIMPER, day, len(history) + 1, rebuilt, received_at)
    feasibility = assess_with_colours(same, QUIMPER, history, in_force, received_at)
    assert feasibility.status is FeasibilityStatus.ACCEPTED, feasibility.comment


@FEW
@given(case=declarations(), in_force=colours, quantities=programs)
def test_3_2_3_2_refusals_name_only_slots_of_the_controlled_window(
    case: tuple[date, list[HmsProfile], datetime],
    in_force: dict[Indicator, Colour],
    quantities: list[float],
) -> None:
    day, history, received_at = case
    new = InputHmsProfile.build(QUIMPER, day, len(history) + 1, quantities, received_at)
    feasibility = assess_with_colours(new, QUIMPER, history, in_force, received_at)
    window = set(controlled_slots(day, received_at))
    for refusal in feasibility.refusals:
        assert set(refusal.slots) <= window


@FEW
@given(
    baseline=programs,
    minutes=st.integers(0, 23 * 60 - 1),
    units=st.sampled_from([1, 2]),
    cuts=st.lists(st.integers(0, 80_000_000), min_size=6, max_size=6),
)
def test_3_2_3_2_exactly_0_8_gwh_per_unit_more_is_accepted_whatever_the_decimals(
    baseline: list[float], minutes: int, units: int, cuts: list[int]
) -> None:
    """Q→Q+ red, partial flexibility green: the window's total raised by exactly
    800,000.00 kWh per unit is "inférieur ou égal"; one cent more is not."""
    day = DAYS[0]
    site = Site(QUIMPER.ref, QUIMPER.contract_code, units, 0.0, 3e6)
    received_at = automatic_acceptance_deadline(day) + timedelta(minutes=minutes)
    sent = datetime.combine(day - timedelta(days=1), time(15), PARIS)
    first = InputHmsProfile.build(site, day, 1, baseline, sent)
    history = [
        HmsProfile(first, sent, Feasibility(FeasibilityStatus.ACCEPTED, site.ref, ALL_GREEN, day))
    ]
    window = window_slots(day, received_at)
    raised = list(baseline)
    for slot, cents in zip(window, _split(80_000_000 * units, cuts, len(window)), strict=True):
        raised[slot] = float(Decimal(repr(baseline[slot])) + Decimal(cents) / 100)
    in_force = {Indicator.Q_TO_Q_MINUS: Colour.GREEN, Indicator.Q_TO_Q_PLUS: Colour.RED,
                Indicator.PARTIAL: Colour.GREEN}  # fmt: skip
    exact = InputHmsProfile.build(site, day, 2, raised, received_at)
    assert assess_with_colours(exact, site, history, in_force, received_at).status is (
        FeasibilityStatus.ACCEPTED
    )
    raised[window[0]] = float(Decimal(repr(raised[window[0]])) + Decimal("0.01"))
    over = InputHmsProfile.build(site, day, 2, raised, received_at)
    refusals = assess_with_colours(over, site, history, in_force, received_at).refusals
    assert [detail.refusal for detail in refusals] == [Refusal.FLEXIBILITY_TOLERANCE]


def _split(total: int, cuts: list[int], parts: int) -> list[int]:
    """`total` cut into `parts` non-negative integers at the drawn points."""
    points = sorted(min(cut * total // 80_000_000, total) for cut in cuts[: parts - 1])
    return [b - a for a, b in zip([0, *points], [*points, total], strict=True)]
