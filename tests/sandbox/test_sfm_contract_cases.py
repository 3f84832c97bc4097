"""Issue 12's reproducers against the SFM sandbox over HTTP, where the sandbox decides.

Every case: site qMax 3,000,000 kWh, a program of 100,000 kWh in each slot declared on
D-1 at 15:00, and the mesh's indicators scripted hour by hour (all green but the
changes each case names). The sandbox clock is set over HTTP; on the DST night with an
explicit offset, since 02:10 CET and 02:10 CEST are an hour apart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx
import pytest

from pipelines.sfm_rules import (
    PARIS,
    SLOTS,
    Colour,
    Indicator,
    InputHmsProfile,
    Publication,
    Site,
    SiteRef,
    gas_day_start,
)
from sandbox.oauth import TokenIssuer
from sandbox.server import SandboxServer
from sandbox.sfm_app import build_sfm_app
from sandbox.sfm_data import SfmSandboxConfig
from tests.sandbox.test_sfm_app import CLIENT_ID, CLIENT_SECRET, SfmServed

DAY = date(2020, 11, 18)
AUTUMN = date(2020, 10, 24)  # the 25-hour gas day: 2020-10-24 06:00 to 2020-10-25 06:00
MESH_CODE = "ME0004"
QUIMPER = Site(SiteRef("LI1234", "Quimper", MESH_CODE, "Bretagne"), "GFCCGE04", 1, 0.0, 3e6)
BASE = 100_000.0
Q_MINUS, Q_PLUS = Indicator.Q_TO_Q_MINUS, Indicator.Q_TO_Q_PLUS
GREEN, RED, GREY = Colour.GREEN, Colour.RED, Colour.GREY
Change = tuple[datetime, Indicator, Colour]  # that colour from the publication for hour H on


def hourly(first_day: date, last_day: date, *changes: Change) -> list[Publication]:
    """A publication for every real hour of gas days first_day to last_day."""
    hour, end = gas_day_start(first_day).astimezone(UTC), gas_day_start(last_day + timedelta(1))
    colours, publications = dict.fromkeys(Indicator, GREEN), []
    while hour < end:
        for changed_at, indicator, colour in changes:
            if changed_at == hour:
                colours[indicator] = colour
        publications.append(Publication(hour, dict(colours)))
        hour += timedelta(hours=1)  # in UTC: 25 real hours on the autumn night
    return publications


def around(day: date, *changes: Change) -> list[Publication]:
    return hourly(day - timedelta(days=1), day + timedelta(days=1), *changes)


def paris(text: str) -> datetime:
    """An ISO instant; without an offset, Paris wall-clock time."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=PARIS)


def at(hour: int, minute: int = 0, day: date = DAY) -> datetime:
    return datetime.combine(day, time(hour, minute), PARIS)


def slot(hour: int) -> int:
    return (hour - 6) % 24


def program(**hours: float) -> list[float]:
    """BASE in each slot, but `h12=200e3`-style values by slot start hour."""
    values = [BASE] * SLOTS
    for name, quantity in hours.items():
        values[slot(int(name[1:]))] = quantity
    return values


class Contract(SfmServed):
    """The sandbox with one site and scripted indicators."""

    site: Site = QUIMPER

    def declare_at(
        self, moment: datetime, version: int, quantities: Sequence[float], day: date = DAY
    ) -> httpx.Response:
        self.set_clock(moment)
        profile = InputHmsProfile.build(self.site, day, version, quantities, moment)
        return self.post("/hmsProfiles", {"hmsProfiles": [profile.to_json()]})

    def feasibility(self, version: int, day: date = DAY) -> dict[str, Any]:
        profile_id = f"{day:%Y%m%d}-{self.site.site_id}-{self.site.contract_code}-{version}"
        response = self.get(f"/hmsProfiles/{profile_id}")
        assert response.status_code == 200, response.text
        return response.json()["hmsProfileFeasibility"]

    def verdict(
        self, moment: datetime, version: int, quantities: Sequence[float], day: date = DAY
    ) -> str:
        """Declare, and GRTgaz's status and comment: "ACCEPTED" or "REFUSED: <comment>"."""
        response = self.declare_at(moment, version, quantities, day)
        assert response.status_code == 201, response.text
        feasibility = self.feasibility(version, day)
        status = feasibility["hmsProfileFeasibilityStatus"]
        return status if status == "ACCEPTED" else f"{status}: {feasibility['comment']}"

    def declared_the_day_before(self, day: date = DAY, quantities: Sequence[float] = ()) -> None:
        sent = at(15, day=day - timedelta(days=1))
        assert self.verdict(sent, 1, list(quantities) or program(), day) == "ACCEPTED"


@pytest.fixture
def serve() -> Iterator[Callable[..., Contract]]:
    """`serve(publications, site=QUIMPER)`: a running sandbox for one case."""
    with ExitStack() as stack:

        def start(publications: list[Publication], site: Site = QUIMPER) -> Contract:
            config = SfmSandboxConfig(
                now=at(12, day=DAY - timedelta(days=30)),
                preload=False,
                sites=(site,),
                publications={MESH_CODE: publications},
            )
            issuer = TokenIssuer({CLIENT_ID: CLIENT_SECRET}, ttl_seconds=3600)
            app = build_sfm_app(config, issuer)
            contract = Contract(stack.enter_context(SandboxServer(app)), app.state.sandbox)
            contract.site = site
            stack.callback(contract.http.close)
            return contract

        yield start


def q0_delay(hours: str) -> str:
    return (
        "REFUSED: Le programme ne respecte pas le délai de prévenance sur les heures "
        f"{hours}. Indicateur de Flexibilité Q → Q- rouge"
    )


SHORTAGE = "REFUSED: Le programme est rejeté dû à une pénurie de Flexibilité"
TOLERANCE = (
    "REFUSED: Le programme est rejeté car il ne respecte pas le volume de Flexibilité "
    "partielle accordé"
)


# --- class 1: the DST night in real time ------------------------------------------------------


def test_3_2_2_1_dst_night_the_02h_cet_colour_is_not_published_at_02h21_cest(
    serve: Callable[..., Contract],
) -> None:
    """Q→Q- RED only in the publication for 02:00 CET (published 02:52 CEST, 00:52 UTC):
    a program for 2020-10-25 lowering 06:00 at 02:21 CEST meets a green Q→Q-; the same
    change an hour later, at 02:21 CET, meets the red one."""
    red_hour = paris("2020-10-25T02:00:00+01:00")
    day = AUTUMN + timedelta(days=1)
    contract = serve(
        hourly(
            AUTUMN, day, (red_hour, Q_MINUS, RED), (red_hour + timedelta(hours=1), Q_MINUS, GREEN)
        )
    )
    contract.declared_the_day_before(day)
    first_time = paris("2020-10-25T02:21:00+02:00")
    assert contract.verdict(first_time, 2, program(h6=90e3), day) == "ACCEPTED"
    shown = contract.get(f"/sites/{QUIMPER.site_id}/flexibilityIndicators").json()
    assert "nextIndicator" not in shown["siteIndicators"]
    second_time = paris("2020-10-25T02:21:00+01:00")
    assert contract.verdict(second_time, 3, program(h6=80e3), day) == q0_delay("6h-7h")


def test_3_2_3_2_dst_night_02h10_cet_is_checked_against_02h40_cest(
    serve: Callable[..., Contract],
) -> None:
    """25-hour day, Q→Q- RED from 02:00 CEST: v2 at 02:40 CEST raises 04:00, v3 at 02:10
    CET (50 minutes later) lowers it back: the reference holds v2, so v3 is refused."""
    contract = serve(hourly(AUTUMN, AUTUMN, (paris("2020-10-25T02:00:00+02:00"), Q_MINUS, RED)))
    contract.declared_the_day_before(AUTUMN)
    raised = program(h4=200e3)
    assert contract.verdict(paris("2020-10-25T02:40:00+02:00"), 2, raised, AUTUMN) == "ACCEPTED"
    back = paris("2020-10-25T02:10:00+01:00")
    assert contract.verdict(back, 3, program(), AUTUMN) == q0_delay("4h-5h")
    rebuilt = contract.get(
        f"/sites/{QUIMPER.site_id}/rebuiltHmsProfile", params={"gasDayDate": AUTUMN.isoformat()}
    ).json()
    assert rebuilt["hourlyQuantities"][slot(4)]["quantity"] == 200e3


# --- classes 2 and 3: a shortage is a gas day's ----------------------------------------------


def test_4_shortage_lasts_the_rest_of_the_gas_day(serve: Callable[..., Contract]) -> None:
    """Q→Q+ GREY in the 08:52 publication, GREEN again at 09:52: an unchanged program at
    10:30 is still refused for shortage (§4: "pour toute la journée gazière")."""
    contract = serve(around(DAY, (at(9), Q_PLUS, GREY), (at(10), Q_PLUS, GREEN)))
    contract.declared_the_day_before()
    shown = contract.get(f"/sites/{QUIMPER.site_id}/flexibilityIndicators")
    assert contract.verdict(at(10, 30), 2, program()) == SHORTAGE
    assert "GREY" not in shown.text  # the pastille itself is green again


def test_4_a_shortage_says_nothing_about_the_next_gas_day(serve: Callable[..., Contract]) -> None:
    """Every publication of D GREY: at D+1 02:00 a program for D+1 is accepted, while one
    for D at the same instant is refused."""
    next_day = DAY + timedelta(days=1)
    grey = [(gas_day_start(DAY), indicator, GREY) for indicator in Indicator]
    green = [(gas_day_start(next_day), indicator, GREEN) for indicator in Indicator]
    contract = serve(around(DAY, *grey, *green))
    contract.declared_the_day_before(DAY)
    contract.declared_the_day_before(next_day)
    night = at(2, day=next_day)
    assert contract.verdict(night, 2, program(), next_day) == "ACCEPTED"
    shown = contract.get(f"/sites/{QUIMPER.site_id}/flexibilityIndicators").json()
    assert shown["siteIndicators"]["currentIndicator"]["qTo0FlexibilityIndicator"]["status"] == (
        "GREY"
    )
    assert contract.verdict(night, 2, program(), DAY) == SHORTAGE


# --- class 4: qMin applies to zero ---------------------------------------------------------------


def test_2_4_zero_is_below_qmin_like_any_value(serve: Callable[..., Contract]) -> None:
    with_min = Site(QUIMPER.ref, QUIMPER.contract_code, 1, 50_000.0, 3e6)
    contract = serve(around(DAY), site=with_min)
    response = contract.declare_at(at(12, day=DAY - timedelta(days=1)), 1, program(h16=0.0))
    assert response.status_code == 400
    assert response.json() == {
        "code": 400,
        "message": "20201118-LI1234-GFCCGE04-1 : "
        "Pour les heures 16h-17h dépassement de la valeur [Qmin/Qmax]",
    }


# --- class 5: same instant, ordered by arrival ----------------------------------------------------


def test_3_2_3_2_same_instant_declarations_are_checked_in_arrival_order(
    serve: Callable[..., Contract],
) -> None:
    """Q→Q- RED; v2 raising 12:00 and v3 lowering it back, both received at 10:20:00: v3
    is checked against a reference that holds v2 ("dernier Programme confirmé")."""
    contract = serve(around(DAY, (at(10), Q_MINUS, RED)))
    contract.declared_the_day_before()
    assert contract.verdict(at(10, 20), 2, program(h12=200e3)) == "ACCEPTED"
    assert contract.verdict(at(10, 20), 3, program()) == q0_delay("12h-13h")


# --- class 6: 0.8 GWh, "inférieur ou égal", in the JSON's decimals --------------------------------

# Slots 09:00 to 15:00 (7 slots: H-1 to H+5 at 10:05). The program raises them by exactly
# 800,000.00 kWh in all, yet their binary floats sum to more than before + 800,000.
BEFORE = [249541.53, 269889.21, 243165.02, 282771.71, 174020.99, 273342.03, 251278.48]
AFTER = [290746.74, 528252.30, 374765.54, 381626.02, 347158.41, 343068.84, 278391.12]


def _window(values: Sequence[float]) -> list[float]:
    quantities = program()
    quantities[slot(9) : slot(16)] = values
    return quantities


def test_3_2_3_2_exactly_0_8_gwh_more_is_accepted_whatever_the_decimals(
    serve: Callable[..., Contract],
) -> None:
    contract = serve(around(DAY, (at(9), Q_PLUS, RED)))  # partial flexibility stays green
    contract.declared_the_day_before(quantities=_window(BEFORE))
    assert contract.verdict(at(10, 5), 2, _window(AFTER)) == "ACCEPTED"
    one_cent_more = [AFTER[0] + 0.01, *AFTER[1:]]
    assert contract.verdict(at(10, 5), 3, _window(one_cent_more)) == TOLERANCE


# --- class 7: a date beyond the calendar ------------------------------------------------------------


def test_2_1_gas_day_9999_12_31_is_a_bad_format(serve: Callable[..., Contract]) -> None:
    contract = serve(around(DAY))
    body = InputHmsProfile.build(QUIMPER, DAY, 1, program(), at(9)).to_json()
    body |= {"gasDay": "9999-12-31", "hmsProfileId": "99991231-LI1234-GFCCGE04-1"}
    contract.set_clock(at(9))
    response = contract.post("/hmsProfiles", {"hmsProfiles": [body]})
    assert response.status_code == 400
    assert "9999-12-31" in response.json()["message"]
    assert "Le format du programme n'est pas conforme" in response.json()["message"]
