"""`gazoduc consents`: onboard customers (declare), revoke, send proofs, watch every right.

Personal data (holder names, e-mails, phones, postcodes) is read from the operator's
customers file and sent to GRDF, nothing more: it is never printed, logged, journaled
or written to a result file. Rows are named by their line number and PCE id.
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
import re
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from hashlib import blake2b
from pathlib import Path
from typing import Any, TextIO

import orjson

from resources.adict import AdictResource, is_valid_pce_id
from resources.adict_consents import (
    PENDING_STATES,
    ConsentsClient,
    GdaAnswer,
    ProofRejected,
    check_proofs,
    consents_client,
)
from resources.quota import QuotaExhausted

log = logging.getLogger("gazoduc.consents")

ROLES = (
    "AUTORISE_CONTRAT_FOURNITURE",
    "DETENTEUR_CONTRAT_FOURNITURE",
    "AUTORISE_CONTRAT_INJECTION",
    "DETENTEUR_CONTRAT_INJECTION",
)
SUPPLY_ROLES = ROLES[:2]
FLAGS = (
    "perim_donnees_contractuelles",
    "perim_donnees_techniques",
    "perim_donnees_informatives",
    "perim_donnees_publiees",
)
DATES = (
    "date_debut_droit_acces",
    "date_fin_droit_acces",
    "perim_donnees_conso_debut",
    "perim_donnees_conso_fin",
    "perim_donnees_inj_debut",
    "perim_donnees_inj_fin",
)
# The Swagger's demander_acces_in, plus the meter: the columns of a customers file.
DECLARATION_FIELDS = (
    "role_tiers",
    "nom_titulaire",
    "raison_sociale",
    "code_postal",
    "courriel_titulaire",
    "numero_telephone_mobile_titulaire",
    *DATES,
    *FLAGS,
)
CUSTOMER_COLUMNS = ("id_pce", *DECLARATION_FIELDS)
HISTORY_YEARS = 5  # GRDF's deepest history (published data): no perimeter reaches further
ENDING_SOON_DAYS = 30
PENDING_DAYS = 3  # seed 003: a person has 3 calendar days to validate
PROOF_REFUSED = "Preuve Vérifiée KO"
PROOF_ASKED = "Preuve en attente"
_POSTCODE = re.compile(r"^\d{5}$", re.ASCII)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_MOBILE = re.compile(r"^0[67]\d{8}$", re.ASCII)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)
PRIVATE_DIR, PRIVATE_FILE = 0o700, 0o600


# --- the customers file, validated locally ------------------------------------------------


@dataclass(frozen=True)
class Customer:
    """One row: its line in the file, its meter, and what GRDF is sent."""

    line: int
    id_pce: str
    declaration: dict[str, str]


@dataclass(frozen=True)
class RowOutcome:
    """What became of a row; `reason` never carries personal data."""

    line: int
    id_pce: str
    outcome: str  # invalid, skipped, declared, refused, not_sent
    reason: str = ""
    id_droit_acces: str = ""


def read_customers(path: Path) -> list[dict[str, str]]:
    """Rows as dicts with a `_line`; `;` or `,` separated (French spreadsheets use `;`)."""
    with path.open(newline="", encoding="utf-8-sig") as file:
        header = file.readline()
        file.seek(0)
        delimiter = ";" if header.count(";") > header.count(",") else ","
        reader = csv.DictReader(file, delimiter=delimiter)
        missing = sorted(set(CUSTOMER_COLUMNS) - set(reader.fieldnames or ()))
        if "id_pce" in missing:
            raise SystemExit(
                f"{path.name}: no id_pce column; expected {', '.join(CUSTOMER_COLUMNS)}"
            )
        return [
            {k: (v or "").strip() for k, v in row.items() if k} | {"_line": str(reader.line_num)}
            for row in reader
        ]


def validate(rows: list[dict[str, str]], today: date) -> tuple[list[Customer], list[RowOutcome]]:
    """Rows GRDF would take, and the others with every reason (one declaration per meter:
    a meter's later rows are refused, naming the first)."""
    good, bad, first_line = [], [], {}
    for row in rows:
        line, id_pce = int(row["_line"]), row.get("id_pce", "")
        problems = row_problems(row, today)
        if not problems and id_pce in first_line:
            problems = [f"duplicate meter: already on line {first_line[id_pce]}"]
        if problems:
            bad.append(RowOutcome(line, id_pce, "invalid", "; ".join(problems)))
            continue
        first_line[id_pce] = line
        good.append(Customer(line, id_pce, _declaration(row)))
    return good, bad


def row_problems(row: dict[str, str], today: date) -> list[str]:
    """Every reason GRDF's Swagger gives to refuse this row, named by column, no value."""
    problems = _identity_problems(row)
    dates = {key: _date(row.get(key, "")) for key in DATES}
    problems += [f"{key}: not a YYYY-MM-DD date" for key in DATES if dates[key] is False]
    flags = {key: row.get(key, "").lower() for key in FLAGS}
    problems += [
        f"{key}: must be Vrai or Faux" for key, v in flags.items() if v not in ("vrai", "faux")
    ]
    if all(v == "faux" for v in flags.values()):
        problems.append("perimeter: no data type is Vrai")
    if not problems:
        problems += _consent_problems(dates, today)
        if row["role_tiers"] in SUPPLY_ROLES and "vrai" in (
            flags["perim_donnees_informatives"],
            flags["perim_donnees_publiees"],
        ):
            problems += _perimeter_problems(dates, today)
    return problems


def _identity_problems(row: dict[str, str]) -> list[str]:
    problems = []
    if not is_valid_pce_id(row.get("id_pce")):
        problems.append("id_pce: not 14 digits nor GI + 6 digits")
    if row.get("role_tiers") not in ROLES:
        problems.append(f"role_tiers: one of {', '.join(ROLES)}")
    holders = [key for key in ("nom_titulaire", "raison_sociale") if row.get(key)]
    if not holders:
        problems.append(
            "holder: nom_titulaire (a person) or raison_sociale (a company) is required"
        )
    elif len(holders) == 2:
        problems.append("holder: nom_titulaire or raison_sociale, not both")
    if not _POSTCODE.match(row.get("code_postal", "")):
        problems.append("code_postal: 5 digits required")
    if not _EMAIL.match(row.get("courriel_titulaire", "")):
        problems.append("courriel_titulaire: an e-mail address is required")
    phone = row.get("numero_telephone_mobile_titulaire", "")
    if phone and not _MOBILE.match(phone):
        problems.append("numero_telephone_mobile_titulaire: a French mobile, 06 or 07 + 8 digits")
    return problems


def _consent_problems(dates: dict[str, Any], today: date) -> list[str]:
    start, end = dates["date_debut_droit_acces"], dates["date_fin_droit_acces"]
    if start is None or end is None:
        return ["consent: date_debut_droit_acces and date_fin_droit_acces are required"]
    problems = _span_problems("consent", start, end, today, " (declare it once given)")
    if start <= end < today:
        problems.append("consent: ended before today")
    return problems


def _span_problems(what: str, start: date, end: date, today: date, later: str = "") -> list[str]:
    """What is wrong with a span of dates, whatever it stands for."""
    problems = [f"{what}: ends before it starts"] if end < start else []
    return problems + ([f"{what}: starts after today{later}"] if start > today else [])


def _perimeter_problems(dates: dict[str, Any], today: date) -> list[str]:
    first, last = dates["perim_donnees_conso_debut"], dates["perim_donnees_conso_fin"]
    if first is None or last is None:
        return ["perimeter: perim_donnees_conso_debut and _fin are required to read consumption"]
    problems = _span_problems("perimeter", first, last, today)
    if first < _years_before(today, HISTORY_YEARS):
        problems.append(f"perimeter: starts more than {HISTORY_YEARS} years ago (GRDF's history)")
    end = dates["date_fin_droit_acces"]
    if end is not None and last > end:
        problems.append("perimeter: ends after the consent")
    return problems


def _date(text: str) -> date | bool | None:
    """None if empty, the date, or False if malformed."""
    if not text:
        return None
    try:
        return date.fromisoformat(text) if _ISO_DATE.match(text) else False
    except ValueError:
        return False


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _declaration(row: dict[str, str]) -> dict[str, str]:
    body = {key: row[key] for key in DECLARATION_FIELDS if row.get(key)}
    return body | {key: row[key].capitalize() for key in FLAGS}  # "VRAI" -> "Vrai"


# --- the journal: each answer kept before the next call ------------------------------------


class Journal:
    """Append-only JSON lines, fsynced: a declaration is written as `sending` before its
    call and with GRDF's answer after it, so a killed run knows what it asked."""

    def __init__(self, path: Path) -> None:
        self.path = path
        private_dir(path.parent)

    def entries(self) -> dict[str, dict[str, Any]]:
        """The last entry of each meter."""
        if not self.path.exists():
            return {}
        last: dict[str, dict[str, Any]] = {}
        for line in self.path.read_bytes().splitlines():
            if line.strip():
                entry = orjson.loads(line)
                last[entry["id_pce"]] = entry
        return last

    def write(self, **entry: Any) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, PRIVATE_FILE)
        try:
            os.write(fd, orjson.dumps(entry | {"at": datetime.now().isoformat()}) + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)


def journal_for(home: Path, customers: Path) -> Journal:
    """One journal per customers file (by its absolute path)."""
    digest = blake2b(str(customers.resolve()).encode(), digest_size=6).hexdigest()
    return Journal(journals_dir(home) / f"declare-{customers.stem}-{digest}.jsonl")


def journals_dir(home: Path) -> Path:
    return home / "state" / "consents"


def private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(PRIVATE_DIR)
    return path


# --- declare -------------------------------------------------------------------------------


@dataclass
class DeclarePlan:
    to_declare: list[Customer]
    done: list[RowOutcome] = field(default_factory=list)  # invalid, skipped, answered before


def plan_declarations(
    customers: list[Customer], rights: list[dict[str, Any]], journal: dict[str, dict], today: date
) -> DeclarePlan:
    """What is left to send: not answered in an earlier run, no right Active or pending."""
    held = {r["id_pce"]: r for r in rights if holds(r, today)}
    plan = DeclarePlan([])
    for customer in customers:
        entry, right = journal.get(customer.id_pce), held.get(customer.id_pce)
        if entry and entry["event"] == "answer":
            outcome = "declared" if entry["status"] in (200, 201) else "refused"
            plan.done.append(
                RowOutcome(
                    customer.line,
                    customer.id_pce,
                    outcome,
                    f"earlier run: {entry['message']}",
                    entry.get("id_droit_acces", ""),
                )
            )
        elif right is not None:
            ours = entry is not None  # sent by a run killed before it kept the answer
            reason = "answer lost, right found" if ours else f"already {right['etat_droit_acces']}"
            plan.done.append(
                RowOutcome(
                    customer.line,
                    customer.id_pce,
                    "declared" if ours else "skipped",
                    reason,
                    right["id_droit_acces"],
                )
            )
        else:
            plan.to_declare.append(customer)
    return plan


def holds(right: dict[str, Any], today: date) -> bool:
    """An Active right still in force, or one the holder or GRDF has yet to decide on."""
    if right.get("etat_droit_acces") in PENDING_STATES:
        return True
    end = _date(str(right.get("date_fin_droit_acces") or ""))
    return right.get("etat_droit_acces") == "Active" and isinstance(end, date) and end >= today


def declare(
    client: ConsentsClient, plan: DeclarePlan, journal: Journal, budget: int, out: TextIO
) -> list[RowOutcome]:
    """Send the plan's declarations in order, within `budget` calls; the rest `not_sent`."""
    outcomes, pace = [], Pace(min(len(plan.to_declare), budget))
    for index, customer in enumerate(plan.to_declare):
        if index >= budget:
            outcomes += [
                _not_sent(c, "daily budget spent: run again tomorrow")
                for c in plan.to_declare[index:]
            ]
            break
        journal.write(id_pce=customer.id_pce, event="sending")
        try:
            answer = client.declare(customer.id_pce, customer.declaration)
        except QuotaExhausted as exc:
            outcomes += [_not_sent(c, str(exc)) for c in plan.to_declare[index:]]
            break
        journal.write(id_pce=customer.id_pce, event="answer", **_journaled(answer))
        outcomes.append(_outcome(customer, answer))
        pace.tick(out)
    return outcomes


def _journaled(answer: GdaAnswer) -> dict[str, Any]:
    return {
        "status": answer.status,
        "code": answer.code,
        "message": answer.message,
        "id_droit_acces": answer.right.get("id_droit_acces", ""),
    }


def _outcome(customer: Customer, answer: GdaAnswer) -> RowOutcome:
    outcome = "declared" if answer.accepted else "refused"
    reason = answer.message if answer.accepted else f"HTTP {answer.status} {answer.message}"
    return RowOutcome(
        customer.line, customer.id_pce, outcome, reason, answer.right.get("id_droit_acces", "")
    )


def _not_sent(customer: Customer, reason: str) -> RowOutcome:
    return RowOutcome(customer.line, customer.id_pce, "not_sent", reason)


@dataclass
class Pace:
    """done/planned, rate and ETA, printed every 10 % (and at the end)."""

    planned: int
    done: int = 0
    started: float = field(default_factory=time.monotonic)

    def tick(self, out: TextIO) -> None:
        self.done += 1
        step = max(1, self.planned // 10)
        if self.done % step == 0 or self.done == self.planned:
            print(self.line(), file=out, flush=True)

    def line(self) -> str:
        elapsed = time.monotonic() - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = (self.planned - self.done) / rate if rate else 0.0
        percent = 100 * self.done / max(self.planned, 1)
        return (
            f"declarations {self.done:,}/{self.planned:,} ({percent:.0f}%), {rate:.2f}/s, "
            f"ETA {int(eta // 60)}m{int(eta % 60):02d}s"
        )


RESULT_COLUMNS = ("line", "id_pce", "outcome", "reason", "id_droit_acces")


def write_result(path: Path, outcomes: Iterable[RowOutcome]) -> None:
    """The result file: one row per customers row, no personal data; 0600 all the same."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    with os.fdopen(fd, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(RESULT_COLUMNS)
        for o in sorted(outcomes, key=lambda o: o.line):
            writer.writerow((o.line, o.id_pce, o.outcome, o.reason, o.id_droit_acces))


def run_declare(
    adict: AdictResource, home: Path, customers_file: Path, dry_run: bool, result: Path | None
) -> int:
    today = _today()
    customers, invalid = validate(read_customers(customers_file), today)
    _print_rows("not sent (invalid)", invalid)
    journal = journal_for(home, customers_file)
    with consents_client(adict) as client:
        rights = client.rights([c.id_pce for c in customers])
        plan = plan_declarations(customers, rights, journal.entries(), today)
        _print_rows("skipped", [o for o in plan.done if o.outcome == "skipped"])
        budget = adict.ledger().remaining_today()
        print(f"{len(plan.to_declare)} to declare; {budget:,} calls left today")
        sent = [] if dry_run else declare(client, plan, journal, budget, sys.stdout)
        calls = client.calls_sent
    outcomes = [*invalid, *plan.done, *sent]
    if dry_run:
        outcomes += [RowOutcome(c.line, c.id_pce, "to_declare") for c in plan.to_declare]
    result = result or customers_file.with_name(f"{customers_file.stem}.result.csv")
    write_result(result, outcomes)
    counts = Counter(o.outcome for o in outcomes)
    _print_rows("refused by GRDF", [o for o in sent if o.outcome == "refused"])
    print(", ".join(f"{n} {what}" for what, n in sorted(counts.items())) + f"; {calls} calls")
    print(f"result: {result}")
    return 1 if counts["invalid"] or counts["refused"] or counts["not_sent"] else 0


def _print_rows(title: str, rows: list[RowOutcome]) -> None:
    if rows:
        print(f"{title}: {len(rows)}")
    for row in rows:
        print(f"  line {row.line:>5}  {row.id_pce or '-':<16} {row.reason}")


# --- revoke and proofs ---------------------------------------------------------------------


def run_revoke(adict: AdictResource, ids: list[str]) -> int:
    malformed = [i for i in ids if not _is_uuid(i)]
    if not ids:
        print("no right id given; nothing sent")
    if malformed or not ids:
        for right_id in malformed:
            print(f"{right_id}: not a right id (a UUID); nothing sent")
        return 2
    refused = 0
    with consents_client(adict) as client:
        for right_id in ids:
            answer = client.revoke(right_id)
            refused += not answer.accepted
            print(f"{right_id}: {_verdict(answer)}")
    return 1 if refused else 0


def revoke_ids_from_csv(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8-sig") as file:
        return [
            row["id_droit_acces"].strip()
            for row in csv.DictReader(file)
            if row.get("id_droit_acces")
        ]


def run_proofs(adict: AdictResource, right_id: str, files: list[Path]) -> int:
    try:
        proofs = check_proofs(files)
    except ProofRejected as rejected:
        print(f"not sent, GRDF would refuse:\n{rejected}")
        return 2
    if not _is_uuid(right_id):
        print(f"{right_id}: not a right id (a UUID); nothing sent")
        return 2
    with consents_client(adict) as client:
        answer = client.send_proofs(right_id, proofs)
    print(f"{right_id}: {_verdict(answer)}")
    return 0 if answer.accepted else 1


def _verdict(answer: GdaAnswer) -> str:
    if answer.accepted:
        return f"done ({answer.message})"
    return f"refused: HTTP {answer.status} {answer.code} {answer.message}"


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


# --- status: what needs an operator --------------------------------------------------------


@dataclass
class ConsentAlerts:
    """What `status` and the Dagster check report; each list holds short lines
    (right id, PCE, dates), never a holder's data."""

    waiting_validation: list[str] = field(default_factory=list)
    proofs_pending: list[str] = field(default_factory=list)
    proofs_refused: list[str] = field(default_factory=list)
    ending_soon: list[str] = field(default_factory=list)
    never_answered: list[str] = field(default_factory=list)

    def items(self) -> Iterator[tuple[str, list[str]]]:
        yield from vars(self).items()

    @property
    def total(self) -> int:
        return sum(len(lines) for _, lines in self.items())


def consent_alerts(
    rights: list[dict[str, Any]],
    today: date,
    pending_days: int = PENDING_DAYS,
    sent_unanswered: Iterable[str] = (),
) -> ConsentAlerts:
    alerts = ConsentAlerts()
    for right in rights:
        _check_right(alerts, right, today, pending_days)
    unknown = sorted(set(sent_unanswered) - {r.get("id_pce") for r in rights})
    alerts.never_answered += [f"PCE {p} sent, no answer kept, unknown to GRDF" for p in unknown]
    return alerts


def _check_right(alerts: ConsentAlerts, right: dict[str, Any], today: date, days: int) -> None:
    label = f"{right.get('id_droit_acces')} PCE {right.get('id_pce')}"
    state, proof = right.get("etat_droit_acces"), right.get("statut_controle_preuve")
    created = _date(str(right.get("date_creation") or "")[:10])
    if state == "A valider" and isinstance(created, date) and (today - created).days > days:
        alerts.waiting_validation.append(f"{label} declared {created}")
    if proof == PROOF_ASKED:
        deadline = right.get("date_limite_transmission_preuve") or "?"
        alerts.proofs_pending.append(f"{label} proofs due {deadline}")
    elif proof == PROOF_REFUSED:
        alerts.proofs_refused.append(f"{label} {state}")
    end = _date(str(right.get("date_fin_droit_acces") or "")[:10])
    soon = today + timedelta(days=ENDING_SOON_DAYS)
    if state == "Active" and isinstance(end, date) and today <= end <= soon:
        alerts.ending_soon.append(f"{label} consent ends {end}")


def unanswered_declarations(home: Path) -> set[str]:
    """Meters whose last journal entry is a declaration sent without an answer kept."""
    folder = journals_dir(home)
    meters: set[str] = set()
    for path in sorted(folder.glob("declare-*.jsonl")) if folder.exists() else ():
        meters |= {p for p, e in Journal(path).entries().items() if e["event"] == "sending"}
    return meters


def run_status(adict: AdictResource, home: Path, pending_days: int) -> int:
    today = _today()
    with consents_client(adict) as client:
        rights = client.rights()
    print(f"{len(rights)} rights")
    for title, key in (("state", "etat_droit_acces"), ("proof status", "statut_controle_preuve")):
        counts = Counter(str(r.get(key) or "-") for r in rights)
        print(f"by {title}: " + ", ".join(f"{v} {n}" for v, n in sorted(counts.items())))
    alerts = consent_alerts(rights, today, pending_days, unanswered_declarations(home))
    for name, lines in alerts.items():
        print(f"{name.replace('_', ' ')}: {len(lines)}")
        for line in lines:
            print(f"  {line}")
    return 1 if alerts.total else 0


def _today() -> date:
    from pipelines.partitions import paris_today

    return paris_today()


# --- the command line ----------------------------------------------------------------------


def consents_main(argv: list[str], adict: AdictResource, home: Path) -> int:
    parser = argparse.ArgumentParser(prog="gazoduc consents", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    declare_cmd = commands.add_parser("declare", help="declare the rights of a customers file")
    declare_cmd.add_argument("customers", type=Path, help=f"CSV: {', '.join(CUSTOMER_COLUMNS)}")
    declare_cmd.add_argument("--dry-run", action="store_true", help="check and plan: 1 call")
    declare_cmd.add_argument("--result", type=Path, help="default: <customers>.result.csv")
    revoke_cmd = commands.add_parser("revoke", help="revoke rights (final)")
    revoke_cmd.add_argument("ids", nargs="*", help="id_droit_acces")
    revoke_cmd.add_argument("--csv", type=Path, help="a CSV with an id_droit_acces column")
    proofs_cmd = commands.add_parser("proofs", help="send up to 3 proofs of one right")
    proofs_cmd.add_argument("id", help="id_droit_acces")
    proofs_cmd.add_argument("files", type=Path, nargs="+")
    status_cmd = commands.add_parser("status", help="every right; exit 1 if one needs you")
    status_cmd.add_argument("--pending-days", type=int, default=PENDING_DAYS)
    args = parser.parse_args(argv)
    if args.command == "declare":
        return run_declare(adict, home, args.customers, args.dry_run, args.result)
    if args.command == "revoke":
        ids = [*args.ids, *(revoke_ids_from_csv(args.csv) if args.csv else [])]
        return run_revoke(adict, ids)
    if args.command == "proofs":
        return run_proofs(adict, args.id, args.files)
    return run_status(adict, home, args.pending_days)
