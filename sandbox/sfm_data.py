"""The SFM sandbox's world: a contract, its sites, the meshes' indicators and the programs.

Everything is synthetic and seeded, so a test can replay a day and get the same
colours. Every decision (technical checks, feasibility, indicators in force, rebuilt
program) is `pipelines.sfm_rules`'s: this module only holds state and feeds it.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

from pipelines.sfm_rules import (
    FILLER_SLOT,
    PARIS,
    SLOTS,
    Colour,
    DeclarationOutcome,
    HmsProfile,
    Indicator,
    InputHmsProfile,
    Publication,
    RebuiltHmsProfile,
    Site,
    SiteIndicators,
    SiteRef,
    gas_day_hours,
    gas_day_of,
    gas_day_start,
    indicators_at,
    process_declaration,
    rebuilt_profile,
)
from sandbox.clock import SandboxClock
from sandbox.faults import Faults

log = logging.getLogger(__name__)

CONTRACT_CODE = "GFCCGE04"  # the shape of §19's example id, 20200311-LI1788-GFCCGE04-…
MESHES = (("ME0001", "Nord"), ("ME0005", "Lorraine"), ("ME0008", "Provence"))
SITE_NAMES = ("Sainte Ernestine de Louvois", "Pont-Vert", "Fos-Lumière", "Val de Moselle")
UNIT_MAX_KWH25 = 450_000.0  # one CCGT unit burns about 450 MWh an hour at full load
RED_AFTER_GREEN = 0.08  # hourly chance an indicator turns red, and back to green
GREEN_AFTER_RED = 0.3
SHORTAGE_CHANCE = 0.08  # per mesh and gas day: every publication of that day is GREY
PRELOAD_DECLARED_AT = time(15)  # starting programs are sent on D-1 at 15h, like §3.2.3's


class SfmClock(SandboxClock):
    """SandboxClock to the minute: SFM rules turn on H-8 min and H+15 min.

    `set_now(moment)` freezes the instant (`None`: real time); the inherited `today()`
    and `set(day)` keep working on the Paris date, at noon.
    """

    def __init__(self, now: datetime | None = None) -> None:
        super().__init__(None)
        self._now = now

    def now(self) -> datetime:
        with self._lock:
            fixed = self._now
        return fixed or datetime.now(PARIS)

    def set_now(self, now: datetime | None) -> None:
        with self._lock:
            self._now = now.astimezone(PARIS) if now is not None else None

    def today(self) -> date:
        return self.now().date()

    def set(self, today: date | None) -> None:
        self.set_now(None if today is None else datetime.combine(today, time(12), PARIS))


def build_sites(seed: int, contract_code: str = CONTRACT_CODE) -> dict[str, Site]:
    """Four sites on three meshes, one or two units each (§3.2.1's table has the same mix)."""
    rng = random.Random(f"sfm-sites-{seed}")
    sites = {}
    for index, name in enumerate(SITE_NAMES):
        mesh_code, mesh_label = MESHES[index % len(MESHES)]
        units = rng.choice((1, 2))
        site_id = f"LI{rng.randrange(1000, 10000):04d}"
        ref = SiteRef(site_id, name, mesh_code, mesh_label)
        q_max = round(units * UNIT_MAX_KWH25 * rng.uniform(0.9, 1.1), -3)
        sites[site_id] = Site(ref, contract_code, units, q_min=round(q_max * 0.35, -3), q_max=q_max)
    return sites


class IndicatorTimeline:
    """Hourly publications per mesh, drawn per gas day from the seed, computed on demand;
    a mesh in `scripted` publishes exactly the publications given instead."""

    def __init__(
        self, seed: int, scripted: Mapping[str, Sequence[Publication]] | None = None
    ) -> None:
        self.seed = seed
        self.scripted = dict(scripted or {})

    def publications_around(self, mesh_code: str, moment: datetime) -> list[Publication]:
        """The publications that can decide what is in force or shown at `moment`: those of
        the gas day under way and the one before, all of today's so far included (§4)."""
        day = gas_day_of(moment + timedelta(hours=1))  # the 05:52 one belongs to the next day
        return [*self.day(mesh_code, day - timedelta(days=1)), *self.day(mesh_code, day)]

    def day(self, mesh_code: str, gas_day: date) -> tuple[Publication, ...]:
        if mesh_code in self.scripted:
            return tuple(pub for pub in self.scripted[mesh_code] if pub.gas_day == gas_day)
        return _day_publications(self.seed, mesh_code, gas_day)


@lru_cache(maxsize=512)
def _day_publications(seed: int, mesh_code: str, gas_day: date) -> tuple[Publication, ...]:
    """A gas day's publications: all GREY on a shortage day, else red spells on green."""
    rng = random.Random(f"sfm-indicators-{seed}-{mesh_code}-{gas_day}")
    start, end = gas_day_start(gas_day), gas_day_start(gas_day + timedelta(days=1))
    hours = round((end.timestamp() - start.timestamp()) / 3600)
    if rng.random() < SHORTAGE_CHANCE:
        grey = dict.fromkeys(Indicator, Colour.GREY)
        return tuple(Publication(_hour(start, n), grey) for n in range(hours))
    colours = dict.fromkeys(Indicator, Colour.GREEN)
    publications = []
    for n in range(hours):
        for indicator in Indicator:
            flip = RED_AFTER_GREEN if colours[indicator] is Colour.GREEN else GREEN_AFTER_RED
            if rng.random() < flip:
                colours[indicator] = _other(colours[indicator])
        publications.append(Publication(_hour(start, n), dict(colours)))
    return tuple(publications)


def _other(colour: Colour) -> Colour:
    return Colour.RED if colour is Colour.GREEN else Colour.GREEN


def _hour(start: datetime, n: int) -> datetime:
    """The n-th real hour after `start`, through UTC so DST days get 23 or 25 of them."""
    return datetime.fromtimestamp(start.timestamp() + 3600 * n, PARIS)


def starting_quantities(seed: int, site: Site, gas_day: date) -> list[float]:
    """A plausible day: low at night, high from 7h to 22h, inside the site's Min and Max;
    the 23-hour day's added slot at 0 (§13.2)."""
    rng = random.Random(f"sfm-program-{seed}-{site.site_id}-{gas_day}")
    high = round(rng.uniform(0.7, 0.95) * site.q_max, -3)
    low = round(max(site.q_min, 0.5 * site.q_max), -3)
    values = [high if 7 <= (6 + slot) % 24 < 22 else low for slot in range(SLOTS)]
    if gas_day_hours(gas_day) == 23:
        values[FILLER_SLOT] = 0.0
    return values


@dataclass
class SfmSandboxConfig:
    seed: int = 11
    contract_code: str = CONTRACT_CODE
    now: datetime | None = None  # None: real time; else the frozen instant to start at
    preload: bool = True  # version-1 programs for D-1, D and D+1, sent on the day before
    authorized_clients: frozenset[str] | None = None  # None: any authenticated client
    sites: tuple[Site, ...] | None = None  # None: four sites drawn from the seed
    # mesh code -> its publications, for a test to replay a day of the contract's examples
    publications: Mapping[str, Sequence[Publication]] | None = None


def _sites(config: SfmSandboxConfig) -> dict[str, Site]:
    if config.sites is None:
        return build_sites(config.seed, config.contract_code)
    return {site.site_id: site for site in config.sites}


@dataclass
class SfmSandbox:
    """Everything the SFM app serves from; `app.state.sandbox`."""

    config: SfmSandboxConfig
    clock: SfmClock
    sites: dict[str, Site]
    timeline: IndicatorTimeline
    profiles: list[HmsProfile] = field(default_factory=list)
    faults: Faults = field(default_factory=Faults)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_config(cls, config: SfmSandboxConfig) -> SfmSandbox:
        sandbox = cls(
            config=config,
            clock=SfmClock(config.now),
            sites=_sites(config),
            timeline=IndicatorTimeline(config.seed, config.publications),
        )
        if config.preload:
            sandbox.preload(gas_day_of(sandbox.clock.now()))
        return sandbox

    # --- reads ---------------------------------------------------------------------------

    def site(self, site_id: str) -> Site | None:
        return self.sites.get(site_id)

    def publications_for(self, site: Site, moment: datetime) -> list[Publication]:
        return self.timeline.publications_around(site.ref.mesh_code, moment)

    def indicators(self, site: Site, moment: datetime) -> SiteIndicators | None:
        shown = indicators_at(self.publications_for(site, moment), moment)
        return None if shown is None else SiteIndicators(site.ref, shown)

    def profile(self, hms_profile_id: str) -> HmsProfile | None:
        with self._lock:
            return next(
                (p for p in self.profiles if p.declared.hms_profile_id == hms_profile_id), None
            )

    def profiles_of(self, site_id: str, gas_day: date) -> list[HmsProfile]:
        with self._lock:
            return [
                p
                for p in self.profiles
                if (p.declared.hms_site_id, p.declared.gas_day) == (site_id, gas_day)
            ]

    def rebuilt(self, site: Site, gas_day: date, as_of: datetime) -> RebuiltHmsProfile | None:
        return rebuilt_profile(site, gas_day, self.profiles_of(site.site_id, gas_day), as_of)

    # --- writes --------------------------------------------------------------------------

    def declare(self, body: Any, received_at: datetime) -> DeclarationOutcome:
        """POST /hmsProfiles: the whole batch is checked and stored under one lock."""
        with self._lock:
            outcome = process_declaration(
                body,
                received_at,
                self.sites,
                self.profiles,
                lambda site: self.publications_for(site, received_at),
            )
            self.profiles.extend(outcome.stored)
        if outcome.rejected:
            log.info("declaration rejected: %s", [p.rejection.value for p in outcome.problems])
        return outcome

    def preload(self, around: date) -> None:
        """Version 1 for every site on the days around `around`, sent at D-1 15h (§3.1)."""
        for gas_day in (around - timedelta(days=1), around, around + timedelta(days=1)):
            sent = datetime.combine(gas_day - timedelta(days=1), PRELOAD_DECLARED_AT, PARIS)
            programs = [self._starting_program(site, gas_day, sent) for site in self.sites.values()]
            body = {"hmsProfiles": programs}
            outcome = self.declare(body, sent)
            assert not outcome.rejected, outcome.problems

    def _starting_program(self, site: Site, gas_day: date, sent: datetime) -> dict[str, Any]:
        quantities = starting_quantities(self.config.seed, site, gas_day)
        return InputHmsProfile.build(site, gas_day, 1, quantities, sent).to_json()

    def reset(self) -> None:
        """Forget every program (and reload the starting ones), faults included."""
        with self._lock:
            self.profiles.clear()
        self.faults = Faults()
        if self.config.preload:
            self.preload(gas_day_of(self.clock.now()))
