from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.planner import (
    AccessRight,
    parse_flag,
    plan_calls,
    right_from_record,
    settled_part,
    split_window,
    subtract_answered,
    years_before,
)

TODAY = date(2026, 11, 23)
ALL_FLAGS = frozenset(
    f"perim_donnees_{f}" for f in ("contractuelles", "techniques", "informatives", "publiees")
)


def right(id_pce: str = "12345678901234", **changes: object) -> AccessRight:
    base = dict(
        id_pce=id_pce,
        role_tiers="AUTORISE_CONTRAT_FOURNITURE",
        etat="Active",
        valid_from=date(2022, 1, 1),
        valid_to=date(2027, 1, 1),
        perimeter=ALL_FLAGS,
        bounds={
            "perim_donnees_conso_debut": date(2020, 1, 1),
            "perim_donnees_conso_fin": None,
            "perim_donnees_inj_debut": None,
            "perim_donnees_inj_fin": None,
        },
    )
    return AccessRight(**(base | changes))  # type: ignore[arg-type]


def test_flags_are_read_in_any_case() -> None:
    assert [parse_flag(v) for v in ("Vrai", "VRAI", "vrai", "Faux", "faux", None, "")] == [
        True,
        True,
        True,
        False,
        False,
        False,
        False,
    ]


def test_a_raw_right_is_parsed_with_spaces_in_the_role_and_datetimes_in_dates() -> None:
    parsed = right_from_record(
        {
            "id_pce": "GI123456",
            "role_tiers": "AUTORISE CONTRAT FOURNITURE",
            "etat_droit_acces": "Active",
            "date_debut_droit_acces": "2024-01-01T00:00:00+01:00",
            "perim_donnees_informatives": "VRAI",
            "perim_donnees_publiees": "faux",
        }
    )
    assert parsed.role_tiers == "AUTORISE_CONTRAT_FOURNITURE"
    assert parsed.valid_from == date(2024, 1, 1)
    assert parsed.perimeter == {"perim_donnees_informatives"}


def test_a_three_year_backfill_is_one_call_per_pce() -> None:
    rights = [right(f"{i:014d}") for i in range(50)]
    calls = plan_calls("informative_consumption", rights, date(2023, 11, 23), TODAY, TODAY)
    assert len(calls) == 50
    assert {(c.first_day, c.last_day) for c in calls} == {
        (date(2023, 11, 23), TODAY - timedelta(days=1))
    }


def test_rights_that_do_not_open_the_data_cost_no_call() -> None:
    rights = [
        right("00000000000001", etat="Révoquée"),
        right("00000000000002", etat="A valider"),
        right("00000000000003", valid_to=TODAY - timedelta(days=1)),  # expired
        right("00000000000004", perimeter=ALL_FLAGS - {"perim_donnees_informatives"}),
        right("00000000000005", role_tiers="AUTORISE_CONTRAT_INJECTION"),
        right(
            "00000000000006", bounds={"perim_donnees_conso_debut": TODAY}
        ),  # nothing before today
    ]
    assert plan_calls("informative_consumption", rights, date(2026, 1, 1), TODAY, TODAY) == []


def test_windows_are_clipped_to_the_perimeter_and_history() -> None:
    clipped = right(
        bounds={
            "perim_donnees_conso_debut": date(2026, 3, 10),
            "perim_donnees_conso_fin": date(2026, 6, 30),
        }
    )
    (call,) = plan_calls("informative_consumption", [clipped], date(2019, 1, 1), TODAY, TODAY)
    assert (call.first_day, call.last_day) == (date(2026, 3, 10), date(2026, 6, 30))
    (call,) = plan_calls("informative_consumption", [right()], date(2019, 1, 1), TODAY, TODAY)
    assert call.first_day == years_before(TODAY, 3)


def test_windows_longer_than_the_limit_are_split() -> None:
    windows = split_window(date(2021, 1, 1), date(2026, 11, 22), 5)
    assert windows[0] == (date(2021, 1, 1), date(2025, 12, 31))
    assert windows[1] == (date(2026, 1, 1), date(2026, 11, 22))


def test_two_rights_on_one_pce_make_one_call() -> None:
    calls = plan_calls(
        "informative_consumption", [right(), right()], date(2026, 1, 1), TODAY, TODAY
    )
    assert len(calls) == 1


@settings(max_examples=200, deadline=None)
@given(
    first=st.dates(date(2018, 1, 1), date(2026, 11, 22)),
    length=st.integers(0, 3000),
    perim_start=st.dates(date(2018, 1, 1), date(2026, 11, 22)),
    years=st.sampled_from(["informative_consumption", "published_consumption"]),
)
def test_every_requested_allowed_day_is_covered_exactly_once(
    first: date, length: int, perim_start: date, years: str
) -> None:
    last = first + timedelta(days=length)
    r = right(bounds={"perim_donnees_conso_debut": perim_start})
    calls = plan_calls(years, [r], first, last, TODAY)
    limit = 3 if years == "informative_consumption" else 5
    covered: list[date] = []
    for call in calls:
        assert call.first_day >= max(perim_start, years_before(TODAY, limit))
        assert call.last_day < TODAY
        assert call.last_day + timedelta(days=1) <= years_before(call.first_day, -limit)
        covered += [call.first_day + timedelta(days=i) for i in range(call.days)]
    lower = max(first, perim_start, years_before(TODAY, limit))
    upper = min(last, TODAY - timedelta(days=1))
    expected = [lower + timedelta(days=i) for i in range((upper - lower).days + 1)]
    assert covered == expected  # each day once, in order, nothing outside


@settings(max_examples=200, deadline=None)
@given(
    answered=st.lists(
        st.tuples(st.dates(date(2023, 11, 1), date(2026, 11, 22)), st.integers(0, 400)), max_size=6
    )
)
def test_answered_windows_are_subtracted_and_the_rest_still_covered(answered: list) -> None:
    (call,) = plan_calls("informative_consumption", [right()], date(2023, 11, 24), TODAY, TODAY)
    windows = [(start, start + timedelta(days=n)) for start, n in answered]
    remaining = subtract_answered([call], {call.id_pce: windows})
    asked = [r.first_day + timedelta(days=i) for r in remaining for i in range(r.days)]
    done = {s + timedelta(days=i) for s, e in windows for i in range((e - s).days + 1)}
    every_day = {call.first_day + timedelta(days=i) for i in range(call.days)}
    assert len(asked) == len(set(asked))  # no day asked twice
    assert set(asked) == every_day - done  # every day not answered, and only those


def test_an_answer_stands_the_day_it_was_fetched_or_once_its_days_are_settled() -> None:
    fetched = date(2026, 11, 10)

    def stands(last_day: date, today: date) -> bool:
        window = (date(2026, 6, 1), last_day)
        return settled_part("informative_consumption", window, fetched, today) == window

    assert stands(date(2026, 11, 9), fetched)
    assert not stands(date(2026, 11, 9), fetched + timedelta(days=1))
    assert stands(date(2026, 8, 31), date(2026, 12, 1))
    assert not stands(date(2026, 9, 1), date(2026, 12, 1))


@pytest.mark.parametrize("leap_day", [date(2024, 2, 29)])
def test_history_limits_on_leap_days(leap_day: date) -> None:
    assert years_before(leap_day, 3) == date(2021, 2, 28)
    assert years_before(date(2027, 2, 28), 3) == date(2024, 2, 28)
    assert split_window(leap_day, date(2027, 3, 1), 3) == [
        (leap_day, date(2027, 2, 27)),
        (date(2027, 2, 28), date(2027, 3, 1)),
    ]


def test_pces_never_answered_come_before_re_reads() -> None:
    calls = plan_calls(
        "informative_consumption",
        [right(f"{i:014d}") for i in range(4)],
        date(2026, 1, 1),
        TODAY,
        TODAY,
    )
    answered = {"00000000000000": [(date(2026, 1, 1), date(2026, 9, 30))]}
    remaining = subtract_answered(calls, answered)
    assert [c.id_pce for c in remaining] == [
        "00000000000001",
        "00000000000002",
        "00000000000003",
        "00000000000000",
    ]
    assert (remaining[-1].first_day, remaining[-1].last_day) == (
        date(2026, 10, 1),
        TODAY - timedelta(days=1),
    )


def test_an_older_answer_stands_for_its_settled_days_only() -> None:
    window = (date(2026, 6, 1), date(2026, 10, 20))
    fetched = date(2026, 10, 21)
    assert settled_part("informative_consumption", window, fetched, fetched) == window
    assert settled_part("informative_consumption", window, fetched, TODAY) == (
        date(2026, 6, 1),
        date(2026, 7, 31),
    )
    assert (
        settled_part(
            "informative_consumption", (date(2026, 9, 1), date(2026, 10, 20)), fetched, TODAY
        )
        is None
    )
