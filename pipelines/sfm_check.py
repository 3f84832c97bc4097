"""`gazoduc sfm check` and `gazoduc sfm csv`: the operator's pre-check and e-mail fallback.

`check` says whether GRTgaz would accept a declaration, and why not, before it is sent:
the technical checks of seed 001 §2, then the feasibility rules of §3 and §4 with the
indicators the API shows now and the programs already declared (from which chapter 2
rebuilds the reference program). Every decision is `pipelines.sfm_rules`'s, the module
the SFM sandbox decides with, so the pre-check and the simulated GRTgaz cannot disagree.
Two inputs the API does not expose are the caller's: a site's number of units (the
partial-flexibility allowance of §3.2.3.2 is per unit) and its contractual Min and Max
(§2.4, checked here against each program's own qMin and qMax). The output says so.

`csv` writes chapter 6's file for the e-mail fallback, used when GRTgaz's SI is down.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from pipelines.sfm_rules import (
    PARIS,
    PARTIAL_FLEXIBILITY_KWH_PER_UNIT,
    PUBLICATION_LEAD,
    DateError,
    Feasibility,
    FeasibilityStatus,
    HmsProfile,
    Indicator,
    InputHmsProfile,
    Rejection,
    Site,
    SiteIndicators,
    TechnicalProblem,
    assess_with_colours,
    check_declaration,
    colours_for_gas_day,
    email_csv,
    email_subject,
    error_json,
    parse_declaration,
    rebuild,
    shortage_seen,
)

if TYPE_CHECKING:  # resources.sfm loads Dagster: only `check` needs it, and lazily
    from resources.sfm import SfmClient

EMAIL_ADDRESS = "contact-CCG@grtgaz.com"  # §18
DEFAULT_UNITS = 1  # §3.2.1's table: most sites have one unit ("tranche")
INDICATOR_NAMES = {
    Indicator.Q_TO_Q_MINUS: "Q→Q-",
    Indicator.Q_TO_Q_PLUS: "Q→Q+",
    Indicator.PARTIAL: "partial",
}
SiteDay = tuple[str, date]
BOUNDS_NOTE = (
    "§2.4: hourly values checked against each program's own qMin/qMax (the API does not "
    "expose the contract's), with the tolerance ASSUMED in pipelines/sfm_rules.py"
)


class DeclarationFileError(ValueError):
    """The file cannot be turned into programs or checked (unreadable, not JSON, not
    §13.2, or a date that is none or lies beyond the calendar's gas days)."""


# --- the report --------------------------------------------------------------------------


class Verdict(StrEnum):
    ACCEPTED = "ACCEPTED"  # §13.3 hmsProfileFeasibilityStatus
    REFUSED = "REFUSED"
    REJECTED = "REJECTED"  # §2: technical rejection, the whole declaration with it (§2.6)
    NOT_INTEGRATED = "NOT INTEGRATED"  # a sound program of a rejected declaration (§2.6)


@dataclass(frozen=True)
class ProgramCheck:
    """What GRTgaz would answer for one program of the declaration."""

    hms_profile_id: str
    verdict: Verdict
    text: str  # GRTgaz's comment (§13.3), or the rejection message (§13.6)
    codes: tuple[str, ...] = ()  # refusal codes of §13.3, or the rejection of §13.6
    feasibility: Feasibility | None = None  # as GRTgaz would store it, when assessed

    def lines(self) -> list[str]:
        codes = f" [{', '.join(self.codes)}]" if self.codes else ""
        lines = [f"{self.verdict.value:<14} {self.hms_profile_id}{codes}: {self.text}"]
        if self.feasibility is not None:
            site = self.feasibility.site
            colours = ", ".join(
                f"{INDICATOR_NAMES[indicator]} {self.feasibility.colours[indicator].value}"
                for indicator in Indicator
            )
            lines.append(f"{'':<14} indicators of {site.mesh_label} ({site.mesh_code}): {colours}")
        return lines


@dataclass(frozen=True)
class CheckReport:
    """The pre-check of one declaration: `accepted` when GRTgaz would accept every program."""

    received_at: datetime
    programs: tuple[ProgramCheck, ...]
    error: dict[str, Any] | None = None  # §13.6's error object GRTgaz would answer, HTTP 400
    notes: tuple[str, ...] = ()

    @property
    def accepted(self) -> bool:
        return self.error is None and all(p.verdict is Verdict.ACCEPTED for p in self.programs)

    @property
    def exit_code(self) -> int:
        return 0 if self.accepted else 1

    def lines(self) -> list[str]:
        lines = [f"SFM pre-check, as if received at {self.received_at.astimezone(PARIS):%F %T %Z}"]
        for program in self.programs:
            lines += program.lines()
        lines.append(self._verdict())
        return lines + [f"note: {note}" for note in self.notes]

    def _verdict(self) -> str:
        if self.error is not None:
            answer = orjson.dumps(self.error).decode()
            return f"GRTgaz would reject the whole declaration (§2.6): HTTP 400 {answer}"
        refused = sum(p.verdict is not Verdict.ACCEPTED for p in self.programs)
        if refused:
            return f"GRTgaz would refuse {refused} of {len(self.programs)} program(s)"
        return f"GRTgaz would accept all {len(self.programs)} program(s)"


# --- reading the file ----------------------------------------------------------------------


def load_declaration(path: Path) -> Any:
    """The file as §14.6's POST body `{"hmsProfiles": [...]}`: a bare list of programs, or
    one program alone, are wrapped. Raises OSError, or orjson.JSONDecodeError."""
    body = orjson.loads(Path(path).read_bytes())
    if isinstance(body, list):
        return {"hmsProfiles": body}
    if isinstance(body, dict) and "hmsProfiles" not in body and "hmsProfileId" in body:
        return {"hmsProfiles": [body]}
    return body


# --- check ---------------------------------------------------------------------------------


def check_declaration_file(
    path: Path,
    client: SfmClient,
    received_at: datetime,
    units: Mapping[str, int] | None = None,
) -> CheckReport:
    """What GRTgaz would answer if the file's declaration reached it at `received_at`.

    API calls: the indicators of every site (§14.1), the programs of each site and gas day
    declared (§14.5) and, once §2 passes, their rebuilt programs (§14.4).
    """
    try:
        body = load_declaration(path)
    except orjson.JSONDecodeError:  # what the sandbox answers to a body it cannot read
        problem = TechnicalProblem(Rejection.BAD_FORMAT, "hmsProfiles", detail="JSON invalide")
        return _rejected(received_at, [problem], [], ())
    _refuse_malformed_dates(path, body)
    profiles, problems = parse_declaration(body)
    indicators = _indicators_by_site(client)
    histories = _histories(client, profiles, indicators)
    sites = _sites(profiles, indicators, histories, units or {})
    stored = [profile.profile_id for history in histories.values() for profile in history]
    problems += check_declaration(profiles, received_at, sites, stored)
    bounds_note = (BOUNDS_NOTE,) if sites else ()
    if problems:
        return _rejected(received_at, problems, profiles, bounds_note)
    checks = [_assess(profile, sites, histories, indicators, received_at) for profile in profiles]
    rebuilt = {key: client.rebuilt_profile(*key) for key in histories}
    notes = _notes(sites, indicators, histories, rebuilt, units or {}, received_at)
    return CheckReport(received_at, tuple(checks), notes=bounds_note + notes)


def _refuse_malformed_dates(path: Path, body: Any) -> None:
    """A date that is none, or one no gas day can be computed for (9999-12-31), leaves
    nothing to check: DeclarationFileError (exit 2), not a guess at GRTgaz's answer."""
    items = body.get("hmsProfiles") if isinstance(body, dict) else None
    for position, item in enumerate(items if isinstance(items, list) else []):
        try:
            InputHmsProfile.from_json(item)
        except DateError as error:
            raise DeclarationFileError(f"{path}: program #{position + 1}: {error}") from error
        except ValueError:
            pass  # any other format problem is GRTgaz's BAD_FORMAT, reported as such


def _indicators_by_site(client: SfmClient) -> dict[str, SiteIndicators]:
    """§14.1 lists every site of our contract: a site missing from it is unknown (§2.3)."""
    shown = (SiteIndicators.from_json(item) for item in client.indicators())
    return {indicators.site.site_id: indicators for indicators in shown}


def _site_days(profiles: Iterable[InputHmsProfile], known: Iterable[str]) -> list[SiteDay]:
    known = set(known)
    pairs = {(p.hms_site_id, p.gas_day) for p in profiles if p.hms_site_id in known}
    return sorted(pairs)


def _histories(
    client: SfmClient,
    profiles: Sequence[InputHmsProfile],
    indicators: Mapping[str, SiteIndicators],
) -> dict[SiteDay, list[HmsProfile]]:
    """The programs already received per site and gas day: §2.2's versions, chapter 2's
    rebuilt program. An id names its site and day, so no other day can clash (§13.2)."""
    return {
        (site_id, day): [HmsProfile.from_json(obj) for obj in client.profiles(site_id, day)]
        for site_id, day in _site_days(profiles, indicators)
    }


def _sites(
    profiles: Sequence[InputHmsProfile],
    indicators: Mapping[str, SiteIndicators],
    histories: Mapping[SiteDay, Sequence[HmsProfile]],
    units: Mapping[str, int],
) -> dict[str, Site]:
    """Our best picture of each declared site, from what the API shows.

    §2.3: a program GRTgaz stored for the site names its contract; with none, the
    declaration's own is taken. §2.4: the contract's Min and Max are not exposed, so the
    first program of the site in the declaration lends its qMin and qMax.
    """
    sites: dict[str, Site] = {}
    for profile in profiles:
        shown = indicators.get(profile.hms_site_id)
        if shown is None or profile.hms_site_id in sites:
            continue
        contract = _stored_contract(profile.hms_site_id, histories)
        sites[profile.hms_site_id] = Site(
            shown.site,
            contract or profile.connection_contract_code,
            units.get(profile.hms_site_id, DEFAULT_UNITS),
            profile.q_min,
            profile.q_max,
        )
    return sites


def _stored_contract(site_id: str, histories: Mapping[SiteDay, Sequence[HmsProfile]]) -> str | None:
    """The contract of a program GRTgaz stored for the site: it passed §2.3."""
    for (stored_site, _), history in histories.items():
        if stored_site == site_id and history:
            return history[0].declared.connection_contract_code
    return None


def _assess(
    profile: InputHmsProfile,
    sites: Mapping[str, Site],
    histories: Mapping[SiteDay, Sequence[HmsProfile]],
    indicators: Mapping[str, SiteIndicators],
    received_at: datetime,
) -> ProgramCheck:
    """§3 and §4 with the colours in force at `received_at`, as the API shows them.

    §4's shortage lasts the whole gas day; the API shows only the current pastille, so a
    shortage is seen when it is shown now or a stored program of the day met it.
    """
    site = sites[profile.hms_site_id]
    history = histories[(profile.hms_site_id, profile.gas_day)]
    states = indicators[profile.hms_site_id].shown.states_at(received_at)
    shortage = shortage_seen(states, profile.gas_day, history)
    colours = colours_for_gas_day(states, profile.gas_day, shortage)
    feasibility = assess_with_colours(profile, site, history, colours, received_at)
    accepted = feasibility.status is FeasibilityStatus.ACCEPTED
    return ProgramCheck(
        profile.hms_profile_id,
        Verdict.ACCEPTED if accepted else Verdict.REFUSED,
        feasibility.comment,
        tuple(detail.refusal.value for detail in feasibility.refusals),
        feasibility,
    )


def _rejected(
    received_at: datetime,
    problems: Sequence[TechnicalProblem],
    profiles: Sequence[InputHmsProfile],
    notes: tuple[str, ...],
) -> CheckReport:
    """§2.6: one problem rejects the declaration; the others are not integrated."""
    lines = [
        ProgramCheck(p.hms_profile_id, Verdict.REJECTED, p.message, (p.rejection.value,))
        for p in problems
    ]
    named = {problem.hms_profile_id for problem in problems}
    lines += [
        ProgramCheck(
            p.hms_profile_id,
            Verdict.NOT_INTEGRATED,
            "sound, but rejected with the rest of the declaration (§2.6)",
        )
        for p in profiles
        if p.hms_profile_id not in named
    ]
    return CheckReport(received_at, tuple(lines), error_json(problems), notes)


# --- what the operator should know about the answer ------------------------------------------


def _notes(
    sites: Mapping[str, Site],
    indicators: Mapping[str, SiteIndicators],
    histories: Mapping[SiteDay, Sequence[HmsProfile]],
    rebuilt: Mapping[SiteDay, Mapping[str, Any] | None],
    units: Mapping[str, int],
    received_at: datetime,
) -> tuple[str, ...]:
    """Feasibility's inputs the operator should know about: units, stale indicators, and
    a rebuilt program that does not match ours."""
    notes = [_units_note(site, site.site_id in units) for site in sites.values()]
    notes += [_stale_note(site_id, indicators[site_id], received_at) for site_id in sites]
    notes += [_rebuilt_note(key, histories[key], shown) for key, shown in rebuilt.items()]
    return tuple(note for note in notes if note)


def _units_note(site: Site, given: bool) -> str:
    """§3.2.3.2: "0,8 GWh/tranche"; the API never says how many units a site has."""
    allowance = f"{site.units * PARTIAL_FLEXIBILITY_KWH_PER_UNIT / 1_000_000:g} GWh"
    if given:
        return f"{site.site_id}: {site.units} unit(s), {allowance} of partial flexibility"
    return (
        f"{site.site_id}: counted as {site.units} unit ({allowance} of partial flexibility, "
        f"§3.2.3.2); the API does not expose units: pass --units {site.site_id}=2 if it has two"
    )


def _stale_note(site_id: str, shown: SiteIndicators, received_at: datetime) -> str:
    """§3.2.2.1: indicators are published every hour at H-8 min; past the next
    publication, the colours shown now may no longer be those in force."""
    states = [*shown.shown.current.values(), *(shown.shown.next or {}).values()]
    latest = max(state.availability for state in states)  # UTC: add in real time
    following = latest + timedelta(hours=1)
    if received_at < following:
        return ""
    return (
        f"{site_id}: indicators as published at {latest.astimezone(PARIS):%H:%M}; "
        f"the publication of {following.astimezone(PARIS):%H:%M} "
        f"(H-{PUBLICATION_LEAD.seconds // 60} min) "
        "may change them before the program is received"
    )


def _rebuilt_note(
    key: SiteDay, history: Sequence[HmsProfile], shown: Mapping[str, Any] | None
) -> str:
    """Our reading of chapter 2 against GRTgaz's own rebuilt program (§14.4): if they
    differ, the feasibility verdict rests on a reference GRTgaz does not use."""
    site_id, day = key
    theirs = None if shown is None else [slot["quantity"] for slot in shown["hourlyQuantities"]]
    ours = rebuild(history)
    if theirs == ours:
        return ""
    return (
        f"{site_id} {day}: GRTgaz's rebuilt program differs from the one rebuilt from its "
        "declared programs (chapter 2): the feasibility verdict may be wrong"
    )


# --- e-mail fallback (chapter 6) ---------------------------------------------------------------


def read_programs(path: Path, checked_at: datetime | None = None) -> list[InputHmsProfile]:
    """The file's programs, or DeclarationFileError naming every problem.

    Reading: the e-mail channel goes through the same §2 checks as the others (§1), so a
    program GRTgaz would reject is refused here rather than mailed; without the site's
    contract at hand, §2.4 uses the program's own qMin/qMax.
    """
    try:
        body = load_declaration(path)
    except (OSError, orjson.JSONDecodeError) as error:
        raise DeclarationFileError(f"{path}: {error}") from error
    profiles, problems = parse_declaration(body)
    problems += check_declaration(profiles, checked_at or datetime.now(PARIS), None)
    if problems:
        reasons = "; ".join(f"{p.hms_profile_id}: {p.message}" for p in problems)
        raise DeclarationFileError(f"{path}: {reasons}")
    return profiles


def write_email_csv(path: Path, out_dir: Path, created_at: datetime | None = None) -> list[Path]:
    """Chapter 6's CSV files for the file's programs, written to `out_dir`; their paths.

    Reading: §18 asks for one file per gas day. Programs of the same day and creation
    time get the same name from `email_csv`, and then the same header line: they share
    one file, one line each after that header.
    """
    files: dict[str, list[str]] = {}
    for profile in read_programs(path, created_at):
        name, text = email_csv(profile, created_at)
        header, _, program = text.partition("\r\n")
        files.setdefault(name, [header + "\r\n"]).append(program)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, parts in files.items():
        target = out_dir / name
        # ASSUMED: UTF-8 (chapter 6 names no encoding; site names carry accents).
        target.write_text("".join(parts), encoding="utf-8", newline="")
        written.append(target)
    return written


# --- command line --------------------------------------------------------------------------


def sfm_main(argv: list[str] | None = None) -> int:
    """`gazoduc sfm check FILE …` (exit 0: all accepted, 1: not, 2: could not check) and
    `gazoduc sfm csv FILE [--out DIR]`."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "check":
            return _check(args.file, args.at or datetime.now(PARIS), dict(args.units))
        return _csv(args.file, args.out)
    # settings, HTTP, auth, quota, file; OverflowError: an instant beyond the calendar
    except (OSError, RuntimeError, ValueError, OverflowError) as error:
        print(f"gazoduc sfm {args.command}: {error}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gazoduc sfm", description="GRTgaz SFM programs")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="would GRTgaz accept this declaration?")
    check.add_argument("file", type=Path, help='{"hmsProfiles": [...]}, a list, or one program')
    check.add_argument(
        "--at", type=_moment, help="reception instant, ISO 8601 (naive: Paris); default now"
    )
    check.add_argument(
        "--units",
        type=_units,
        nargs="+",
        action="extend",
        default=[],
        metavar="LI1234=2",
        help=f"units of a site, for partial flexibility (default {DEFAULT_UNITS})",
    )
    csv = commands.add_parser("csv", help="the e-mail fallback file of chapter 6")
    csv.add_argument("file", type=Path)
    csv.add_argument("--out", type=Path, default=Path("."), help="folder (default: here)")
    return parser


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=PARIS) if moment.tzinfo is None else moment


def _units(text: str) -> tuple[str, int]:
    site_id, _, count = text.partition("=")
    if not (site_id and count.isdigit() and int(count) > 0):
        raise argparse.ArgumentTypeError(f"expected SITE=UNITS, e.g. LI1234=2: {text!r}")
    return site_id, int(count)


def _check(path: Path, received_at: datetime, units: Mapping[str, int]) -> int:
    from resources.sfm import SfmResource  # loads Dagster: only `check` needs it

    with SfmResource.from_environment().client() as client:
        report = check_declaration_file(path, client, received_at, units)
    print("\n".join(report.lines()))
    return report.exit_code


def _csv(path: Path, out_dir: Path) -> int:
    profiles = read_programs(path)
    for written in write_email_csv(path, out_dir):
        print(written)
    first_days: dict[str, date] = {}
    for profile in profiles:
        label = profile.hms_site_label
        first_days[label] = min(first_days.get(label, profile.gas_day), profile.gas_day)
    for label, day in first_days.items():
        print(f"mail to {EMAIL_ADDRESS}, subject: {email_subject(label, day)}")
    print("then phone GRTgaz to confirm the programs' feasibility (chapter 6)")
    return 0
