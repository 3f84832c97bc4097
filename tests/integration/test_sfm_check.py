"""`gazoduc sfm check` against the SFM sandbox over real HTTP, certificate login included:
the pre-check must say exactly what the sandbox answers when the same declaration is
POSTed at the same instant. And `gazoduc sfm csv`'s file (seed 001 chapter 6)."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from pipelines.sfm_check import (
    CheckReport,
    DeclarationFileError,
    Verdict,
    check_declaration_file,
    sfm_main,
    write_email_csv,
)
from pipelines.sfm_rules import (
    PARIS,
    SLOTS,
    Colour,
    Indicator,
    InputHmsProfile,
    Refusal,
    Rejection,
    Site,
    SiteRef,
    rebuild,
)
from resources.sfm import DeclarationRejected, SfmClient, SfmResource
from resources.sfm_auth import sfm_scope
from sandbox.certificates import valid_for
from sandbox.server import SandboxServer
from sandbox.sfm_app import BASE_PATH, build_sfm_app
from sandbox.sfm_auth import TOKEN_PATH, AssertionTokenIssuer
from sandbox.sfm_data import SfmSandbox, SfmSandboxConfig

CLIENT_ID = "ae804739-1de9-4f6b-b516-79fac087bfb1"
TARGET_APP = "RIO-DSG-MAMBA"
# Seed 11's gas day of 2026-11-22 (see sandbox/sfm_data.py): Provence (Fos-Lumière) is in
# flexibility shortage all day; Nord and Lorraine have red spells. START is D-1, before
# the preloaded version-1 programs are sent at 15h.
DAY = date(2026, 11, 22)
START = datetime(2026, 11, 21, 14, 0, tzinfo=PARIS)
RED, GREEN, GREY = Colour.RED, Colour.GREEN, Colour.GREY
BOUNDS = ("GFCCGE04", 1, 10_000.0, 500_000.0)  # contract, units, qMin, qMax


@dataclass
class Sfm:
    """A running SFM sandbox with the certificate issuer, and our resource pointing at it."""

    server: SandboxServer
    sandbox: SfmSandbox
    resource: SfmResource

    def site(self, label: str) -> Site:
        return next(s for s in self.sandbox.sites.values() if s.ref.site_label == label)

    def reference(self, site: Site) -> list[float]:
        """The program in force before any test declaration (the preloaded version 1)."""
        quantities = rebuild(self.sandbox.profiles_of(site.site_id, DAY))
        assert quantities is not None
        return quantities

    def set_clock(self, wall: datetime) -> datetime:
        moment = wall.replace(tzinfo=PARIS)
        self.sandbox.clock.set_now(moment)
        return moment

    @property
    def units(self) -> dict[str, int]:
        return {site.site_id: site.units for site in self.sandbox.sites.values()}


@pytest.fixture
def sfm(tmp_path: Path) -> Iterator[Sfm]:
    pair = valid_for(365)
    cert_file, key_file = pair.write(tmp_path / "cert")
    issuer = AssertionTokenIssuer({CLIENT_ID: pair.certificate}, sfm_scope(TARGET_APP))
    app = build_sfm_app(SfmSandboxConfig(now=START), issuer)
    with SandboxServer(app) as server:
        resource = SfmResource(
            base_url=server.base_url + BASE_PATH,
            token_url=server.base_url + TOKEN_PATH,
            client_id=CLIENT_ID,
            scope=sfm_scope(TARGET_APP),
            cert_file=str(cert_file),
            key_file=str(key_file),
            calls_per_second=1000.0,  # the sandbox has no quota: keep the test fast
            state_dir=str(tmp_path / "state"),
        )
        yield Sfm(server, app.state.sandbox, resource)


def program(site: Site, quantities: Sequence[float], moment: datetime, version: int = 2) -> dict:
    return InputHmsProfile.build(site, DAY, version, quantities, moment).to_json()


def with_slots(base: Sequence[float], slots: range, value: Callable[[float], float]) -> list[float]:
    return [value(q) if slot in slots else q for slot, q in enumerate(base)]


def write(path: Path, programs: list[dict[str, Any]]) -> Path:
    path.write_bytes(orjson.dumps({"hmsProfiles": programs}))
    return path


def check_then_post(
    sfm: Sfm, tmp_path: Path, programs: list[dict], moment: datetime, units: dict | None = None
) -> CheckReport:
    """Pre-check, POST the same programs at the same instant, and assert both agree."""
    path = write(tmp_path / "program.json", programs)
    with sfm.resource.client() as client:
        report = check_declaration_file(path, client, moment, sfm.units if units is None else units)
        assert_sandbox_agrees(client, report, programs)
    return report


def assert_sandbox_agrees(client: SfmClient, report: CheckReport, programs: list[dict]) -> None:
    try:
        client.declare(programs)
    except DeclarationRejected as rejected:
        assert report.error is not None, rejected
        assert (rejected.code, rejected.reason) == (
            str(report.error["code"]),
            report.error["message"],
        )
        return
    assert report.error is None
    for checked, sent in zip(report.programs, programs, strict=True):
        stored = client.profiles(sent["hmsSiteId"], DAY)
        [answer] = [p for p in stored if p["hmsProfileId"] == checked.hms_profile_id]
        assert checked.feasibility is not None
        assert answer["hmsProfileFeasibility"] == checked.feasibility.to_json()


def verdicts(report: CheckReport) -> list[tuple[Verdict, tuple[str, ...]]]:
    return [(p.verdict, p.codes) for p in report.programs]


def colours(report: CheckReport, index: int = 0) -> tuple[Colour, ...]:
    feasibility = report.programs[index].feasibility
    assert feasibility is not None
    return tuple(feasibility.colours[indicator] for indicator in Indicator)


# --- feasibility: the pre-check and the sandbox give the same answer -----------------------------


def test_programs_under_green_indicators_are_accepted(sfm: Sfm, tmp_path: Path) -> None:
    pont_vert, moselle = sfm.site("Pont-Vert"), sfm.site("Val de Moselle")
    moment = sfm.set_clock(datetime(2026, 11, 22, 18, 20))
    up = with_slots(sfm.reference(pont_vert), range(12, 15), lambda q: q * 1.1)
    also_up = with_slots(sfm.reference(moselle), range(12, 15), lambda q: q * 1.1)
    programs = [program(pont_vert, up, moment), program(moselle, also_up, moment)]
    report = check_then_post(sfm, tmp_path, programs, moment)
    assert verdicts(report) == [(Verdict.ACCEPTED, ())] * 2
    assert report.accepted and report.exit_code == 0
    assert report.programs[0].text == "Programme accepté"
    assert colours(report, 0) == (GREEN, GREEN, GREEN)
    assert colours(report, 1) == (RED, GREEN, GREEN)  # Q→Q- red: increases are free


def test_an_increase_under_red_q_plus_and_red_partial_is_refused(sfm: Sfm, tmp_path: Path) -> None:
    moselle = sfm.site("Val de Moselle")
    moment = sfm.set_clock(datetime(2026, 11, 22, 9, 20))
    up = with_slots(sfm.reference(moselle), range(4, 6), lambda q: q * 1.1)  # 10h-12h
    report = check_then_post(sfm, tmp_path, [program(moselle, up, moment)], moment)
    assert colours(report) == (GREEN, RED, RED)
    assert verdicts(report) == [(Verdict.REFUSED, (Refusal.QMAX_DELAY.value,))]
    assert report.programs[0].text == (
        "Le programme ne respecte pas le délai de prévenance sur les heures 10h-11h, 11h-12h. "
        "Indicateur de Flexibilité Q → Q+ rouge"
    )
    assert not report.accepted and report.exit_code == 1


def test_a_decrease_under_red_q_minus_is_refused(sfm: Sfm, tmp_path: Path) -> None:
    pont_vert = sfm.site("Pont-Vert")
    moment = sfm.set_clock(datetime(2026, 11, 22, 13, 20))
    down = with_slots(sfm.reference(pont_vert), range(9, 10), lambda q: q * 0.8)  # 15h-16h
    report = check_then_post(sfm, tmp_path, [program(pont_vert, down, moment)], moment)
    assert colours(report)[0] is RED
    assert verdicts(report) == [(Verdict.REFUSED, (Refusal.Q0_DELAY.value,))]
    assert "sur les heures 15h-16h. Indicateur de Flexibilité Q → Q- rouge" in report.lines()[1]


def test_more_than_the_partial_flexibility_volume_is_refused(sfm: Sfm, tmp_path: Path) -> None:
    # 17h05, before H+15 min: the 7 slots 16h to 22h are controlled (§3.2.3.2 2.a.i).
    pont_vert = sfm.site("Pont-Vert")
    moment = sfm.set_clock(datetime(2026, 11, 22, 17, 5))
    full = with_slots(sfm.reference(pont_vert), range(10, 17), lambda q: pont_vert.q_max)
    report = check_then_post(sfm, tmp_path, [program(pont_vert, full, moment)], moment)
    assert colours(report) == (GREEN, RED, GREEN)
    assert verdicts(report) == [(Verdict.REFUSED, (Refusal.FLEXIBILITY_TOLERANCE.value,))]
    assert report.programs[0].text == (
        "Le programme est rejeté car il ne respecte pas le volume de Flexibilité partielle accordé"
    )


def test_units_set_the_partial_flexibility_allowance_and_the_default_is_said(
    sfm: Sfm, tmp_path: Path
) -> None:
    # +1.13 GWh on a two-unit site: within its 1.6 GWh, beyond one unit's 0.8 GWh.
    pont_vert = sfm.site("Pont-Vert")
    assert pont_vert.units == 2
    moment = sfm.set_clock(datetime(2026, 11, 22, 17, 5))
    some = with_slots(sfm.reference(pont_vert), range(10, 15), lambda q: pont_vert.q_max)
    path = write(tmp_path / "program.json", [program(pont_vert, some, moment)])
    with sfm.resource.client() as client:
        guessed = check_declaration_file(path, client, moment)
        told = check_declaration_file(path, client, moment, {pont_vert.site_id: 2})
    assert verdicts(guessed) == [(Verdict.REFUSED, (Refusal.FLEXIBILITY_TOLERANCE.value,))]
    assert f"note: {pont_vert.site_id}: counted as 1 unit (0.8 GWh" in "\n".join(guessed.lines())
    assert f"--units {pont_vert.site_id}=2" in "\n".join(guessed.lines())
    assert verdicts(told) == [(Verdict.ACCEPTED, ())]
    assert f"note: {pont_vert.site_id}: 2 unit(s), 1.6 GWh" in "\n".join(told.lines())
    check_then_post(sfm, tmp_path, [program(pont_vert, some, moment)], moment)


def test_every_program_is_refused_during_a_shortage(sfm: Sfm, tmp_path: Path) -> None:
    fos = sfm.site("Fos-Lumière")
    moment = sfm.set_clock(datetime(2026, 11, 22, 9, 20))
    same = sfm.reference(fos)  # §4: even an unchanged program
    report = check_then_post(sfm, tmp_path, [program(fos, same, moment)], moment)
    assert colours(report) == (GREY, GREY, GREY)
    assert verdicts(report) == [(Verdict.REFUSED, (Refusal.GRAY_INDICATOR.value,))]
    assert report.programs[0].text == "Le programme est rejeté dû à une pénurie de Flexibilité"


def test_a_change_for_the_worse_counts_from_its_application(sfm: Sfm, tmp_path: Path) -> None:
    # 07h55: Nord's Q→Q+ and partial turned red at 07h52 (nextIndicator), in force at 08h15.
    moselle = sfm.site("Val de Moselle")
    shown_at = sfm.set_clock(datetime(2026, 11, 22, 7, 55))
    received_at = datetime(2026, 11, 22, 8, 20, tzinfo=PARIS)
    up = with_slots(sfm.reference(moselle), range(4, 6), lambda q: q * 1.1)
    path = write(tmp_path / "program.json", [program(moselle, up, received_at)])
    with sfm.resource.client() as client:
        now = check_declaration_file(path, client, shown_at, sfm.units)
        later = check_declaration_file(path, client, received_at, sfm.units)
        assert verdicts(now) == [(Verdict.ACCEPTED, ())]
        assert verdicts(later) == [(Verdict.REFUSED, (Refusal.QMAX_DELAY.value,))]
        sfm.set_clock(received_at.replace(tzinfo=None))
        assert_sandbox_agrees(client, later, orjson.loads(path.read_bytes())["hmsProfiles"])


class SkewedRebuilt(SfmClient):
    """Our client, but GRTgaz's rebuilt program is off by 1 kWh at 06h."""

    def rebuilt_profile(self, site_id: str, day: date) -> dict[str, Any] | None:
        body = super().rebuilt_profile(site_id, day)
        assert body is not None
        body["hourlyQuantities"][0]["quantity"] += 1
        return body


def test_a_rebuilt_program_unlike_ours_is_reported(sfm: Sfm, tmp_path: Path) -> None:
    moselle = sfm.site("Val de Moselle")
    moment = sfm.set_clock(datetime(2026, 11, 22, 9, 20))
    path = write(tmp_path / "program.json", [program(moselle, sfm.reference(moselle), moment)])
    with sfm.resource.client() as client:
        agreeing = check_declaration_file(path, client, moment, sfm.units)
        skewed_client = SkewedRebuilt(client.base_url, client.caller)
        skewed = check_declaration_file(path, skewed_client, moment, sfm.units)
    assert not any("rebuilt program differs" in note for note in agreeing.notes)
    assert f"{moselle.site_id} {DAY}: GRTgaz's rebuilt program differs" in skewed.notes[-1]


# --- technical rejections (§2): the whole declaration, GRTgaz's code and message -----------------


def test_one_program_over_qmax_rejects_the_whole_declaration(sfm: Sfm, tmp_path: Path) -> None:
    louvois, moselle = sfm.site("Sainte Ernestine de Louvois"), sfm.site("Val de Moselle")
    moment = sfm.set_clock(datetime(2026, 11, 22, 10, 40))
    over = with_slots(sfm.reference(louvois), range(6, 8), lambda q: louvois.q_max * 1.2)
    good = program(moselle, sfm.reference(moselle), moment)
    programs = [good, program(louvois, over, moment)]
    report = check_then_post(sfm, tmp_path, programs, moment)
    assert verdicts(report) == [
        (Verdict.REJECTED, (Rejection.EXEDED_QMIN_QMAX.value,)),
        (Verdict.NOT_INTEGRATED, ()),
    ]
    assert report.error == {
        "code": 400,
        "message": f"{programs[1]['hmsProfileId']} : "
        "Pour les heures 12h-13h, 13h-14h dépassement de la valeur [Qmin/Qmax]",
    }
    assert report.exit_code == 1
    verdict = 'GRTgaz would reject the whole declaration (§2.6): HTTP 400 {"code":400,'
    assert any(line.startswith(verdict) for line in report.lines())


def test_23_values_and_a_reused_id_are_rejected(sfm: Sfm, tmp_path: Path) -> None:
    moselle, pont_vert = sfm.site("Val de Moselle"), sfm.site("Pont-Vert")
    moment = sfm.set_clock(datetime(2026, 11, 22, 10, 40))
    short = program(moselle, sfm.reference(moselle), moment)
    short["hmsHourlyProfile"] = short["hmsHourlyProfile"][:23]
    reused = program(pont_vert, sfm.reference(pont_vert), moment, version=1)  # preloaded
    report = check_then_post(sfm, tmp_path, [short, reused], moment)
    assert verdicts(report) == [
        (Verdict.REJECTED, (Rejection.BAD_NUMBER_QUANTITIES.value,)),
        (Verdict.REJECTED, (Rejection.HMS_PROFILE_ID_ALREADY_EXISTS.value,)),
    ]


def test_a_site_outside_the_contract_and_bad_json_are_rejected(sfm: Sfm, tmp_path: Path) -> None:
    moselle = sfm.site("Val de Moselle")
    moment = sfm.set_clock(datetime(2026, 11, 22, 10, 40))
    stranger = program(moselle, sfm.reference(moselle), moment)
    stranger["hmsSiteId"] = "LI0001"
    stranger["hmsProfileId"] = stranger["hmsProfileId"].replace(moselle.site_id, "LI0001")
    report = check_then_post(sfm, tmp_path, [stranger], moment)
    assert verdicts(report) == [(Verdict.REJECTED, (Rejection.UNKNOWN_HMS_SITE.value,))]
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with sfm.resource.client() as client:
        report = check_declaration_file(broken, client, moment)
    assert report.error == {
        "code": 400,
        "message": "hmsProfiles : Le format du programme n'est pas conforme : JSON invalide",
    }


# --- the command line ----------------------------------------------------------------------


@pytest.fixture
def sfm_settings(sfm: Sfm, home: Path, monkeypatch: pytest.MonkeyPatch) -> Sfm:
    """The SFM_* settings `gazoduc sfm check` reads, pointing at the sandbox."""
    settings = {
        "SFM_BASE_URL": sfm.resource.base_url,
        "SFM_TOKEN_URL": sfm.resource.token_url,
        "SFM_CLIENT_ID": CLIENT_ID,
        "SFM_SCOPE": sfm.resource.scope,
        "SFM_CERT_FILE": sfm.resource.cert_file,
        "SFM_KEY_FILE": sfm.resource.key_file,
        "SFM_CALLS_PER_SECOND": "1000",
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    return sfm


def test_sfm_check_command_reads_the_sfm_settings(
    sfm_settings: Sfm, tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    sfm = sfm_settings
    moselle = sfm.site("Val de Moselle")
    moment = sfm.set_clock(datetime(2026, 11, 22, 9, 20))
    up = with_slots(sfm.reference(moselle), range(4, 6), lambda q: q * 1.1)
    path = tmp_path / "one.json"
    path.write_bytes(orjson.dumps(program(moselle, up, moment)))  # one bare program
    at, units = "2026-11-22T09:20", f"{moselle.site_id}=1"
    assert sfm_main(["check", str(path), "--at", at, "--units", units]) == 1
    out = capsys.readouterr().out
    assert "SFM pre-check, as if received at 2026-11-22 09:20:00 CET" in out
    assert f"REFUSED        {program(moselle, up, moment)['hmsProfileId']} [" in out
    assert "indicators of Nord (ME0001): Q→Q- GREEN, Q→Q+ RED, partial RED" in out
    assert (home / "state").is_dir()  # the quota ledger lives under GAZODUC_HOME
    monkeypatch.delenv("SFM_BASE_URL")
    assert sfm_main(["check", str(path)]) == 2
    assert "SFM_BASE_URL is not set" in capsys.readouterr().err


@pytest.mark.parametrize("gas_day", ["9999-12-31", "2026-02-30"])
def test_2_1_sfm_check_on_a_date_beyond_the_calendar_is_a_clear_error(
    sfm_settings: Sfm, tmp_path: Path, capsys: Any, gas_day: str
) -> None:
    """Issue 12: gasDay 9999-12-31 printed an OverflowError traceback. Any date that is
    none, or has no gas day we can compute, leaves nothing to check: exit 2, one line."""
    moselle = sfm_settings.site("Val de Moselle")
    body = program(moselle, [100_000.0] * SLOTS, START)
    day_digits = gas_day.replace("-", "")
    body |= {"gasDay": gas_day, "hmsProfileId": f"{day_digits}-{moselle.site_id}-GFCCGE04-2"}
    path = write(tmp_path / "far.json", [body])
    assert sfm_main(["check", str(path), "--at", "2026-11-22T09:20"]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"gazoduc sfm check: {path}: program #1: gasDay")
    assert gas_day in captured.err and "Traceback" not in captured.err + captured.out


# --- e-mail fallback (chapter 6) ------------------------------------------------------------


def test_write_email_csv_names_and_fills_the_file_of_chapter_6(tmp_path: Path) -> None:
    # §19's example: id 20200311-LI1788-GFCCGE04-…, created 17/09/2019 at 193355 for 18/09.
    louvois = Site(SiteRef("LI1788", "Sainte Ernestine de Louvois", "ME0001", "Nord"), *BOUNDS)
    moselle = Site(SiteRef("LI1789", "Val de Moselle", "ME0005", "Lorraine"), *BOUNDS)
    sent = datetime(2019, 9, 17, 19, 33, 55, tzinfo=PARIS)
    day = date(2019, 9, 18)
    quantities = [100000.0 + 1000 * slot for slot in range(SLOTS)]
    programs = [
        InputHmsProfile.build(site, day, 4, quantities, sent).to_json()
        for site in (louvois, moselle)
    ]
    path = write(tmp_path / "program.json", programs)
    [written] = write_email_csv(path, tmp_path / "out", created_at=sent)
    assert written.name == "Export_DECLARATIONS_CCG-UPLOAD-20190918_20190917193355.csv"
    rows = list(csv.reader(written.read_text(encoding="utf-8").splitlines(), delimiter=";"))
    assert rows[0] == [
        "DECLARATIONS_CCG",
        "17/09/2019",
        "193355",
        "UPLOAD",
        "PROD",
        "18/09/2019",
        "18/09/2019",
    ]
    assert [row[:10] for row in rows[1:]] == [
        ["20190918-LI1788-GFCCGE04-4", "18/09/2019", "LI1788", "Sainte Ernestine de Louvois",
         "17/09/2019", "193355", "17/09/2019", "193355", "10000", "500000"],
        ["20190918-LI1789-GFCCGE04-4", "18/09/2019", "LI1789", "Val de Moselle",
         "17/09/2019", "193355", "17/09/2019", "193355", "10000", "500000"],
    ]  # fmt: skip
    assert rows[1][10:] == [str(int(q)) for q in quantities]  # 24 hourly values, 6h first
    assert written.read_bytes().count(b"\r\n") == 3


def test_write_email_csv_refuses_a_program_grtgaz_would_reject(tmp_path: Path) -> None:
    path = tmp_path / "program.json"
    path.write_text('{"hmsProfiles": [{"hmsProfileId": "nope"}]}')
    with pytest.raises(DeclarationFileError, match="Le format du programme n'est pas conforme"):
        write_email_csv(path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_sfm_csv_command_writes_the_file_and_says_where_to_send_it(
    tmp_path: Path, capsys: Any
) -> None:
    site = Site(SiteRef("LI1788", "Sainte Ernestine de Louvois", "ME0001", "Nord"), *BOUNDS)
    sent = datetime(2030, 1, 14, 19, 33, 55, tzinfo=PARIS)  # a day still to come
    one = InputHmsProfile.build(site, date(2030, 1, 15), 2, [100000.0] * SLOTS, sent)
    path = tmp_path / "one.json"
    path.write_bytes(orjson.dumps(one.to_json()))
    assert sfm_main(["csv", str(path), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == str(
        tmp_path / "out" / "Export_DECLARATIONS_CCG-UPLOAD-20300115_20300114193355.csv"
    )
    assert out[1] == (
        "mail to contact-CCG@grtgaz.com, subject: "
        "[Sainte Ernestine de Louvois] Prévisions SFM : 15/01/2030 – 17/01/2030"
    )
