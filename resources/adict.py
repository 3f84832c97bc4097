"""GRDF ADICT v2 client: access rights, consumption and injection streams, C&T documents.

Contract: GRDF's Swagger (`shared/references/adict-v2-swagger.json`). Every call goes
through the shared quota ledger (1 call/s, 6,000 to 240,000 a day per client).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from enum import StrEnum
from typing import Any, ClassVar

import httpx
import orjson
from pydantic import Field

from resources.http import (
    ApiCaller,
    ClientCredentials,
    RequestNotSent,
    RetryableError,
    UpstreamError,
    UpstreamResource,
    timeouts,
)
from resources.quota import QuotaExhausted
from resources.streams import MalformedStreamError, Trailer, iter_json_objects, split_trailer
from warehouse.raw import Answer

log = logging.getLogger(__name__)

API = "adict"
# ASCII digits only, the whole string: `\d` alone would take Arabic-Indic digits, and
# `match` with `$` a trailing newline (which then fails to build a URL).
PCE_ID = re.compile(r"GI[0-9]{6}|[0-9]{14}", re.ASCII)


# Contract annex 4: quotas by portfolio size, per client, all endpoints together.
# (PCEs up to, calls per second, calls per day)
QUOTA_TIERS: tuple[tuple[float, float, int], ...] = (
    (5_000, 1.0, 6_000),
    (50_000, 1.0, 60_000),
    (math.inf, 3.0, 240_000),
)


def quota_tier(portfolio: int) -> tuple[float, int]:
    """(calls per second, calls per day) GRDF grants a portfolio of this many PCEs."""
    return next((cps, cpd) for size, cps, cpd in QUOTA_TIERS if portfolio <= size)


@dataclass(frozen=True)
class Endpoint:
    """One ADICT resource: where it lives and which part of a right opens it."""

    path: str
    streamed: bool  # NDJSON stream (True) or one JSON document (False)
    history_years: int | None = None  # how far back `date_debut` may go
    perimeter_flag: str | None = None  # the right's Vrai/Faux field that must be true
    perimeter_dates: tuple[str, str] | None = None  # the right's data-date bounds
    roles: tuple[str, ...] = ()  # role_tiers allowed (empty: any)


SUPPLY_ROLES = ("AUTORISE_CONTRAT_FOURNITURE", "DETENTEUR_CONTRAT_FOURNITURE")
INJECTION_ROLES = ("AUTORISE_CONTRAT_INJECTION", "DETENTEUR_CONTRAT_INJECTION")
CONSO_DATES = ("perim_donnees_conso_debut", "perim_donnees_conso_fin")
INJECTION_DATES = ("perim_donnees_inj_debut", "perim_donnees_inj_fin")

# The endpoint table: the one place that knows ADICT's paths and perimeter rules.
ENDPOINTS: dict[str, Endpoint] = {
    "access_rights": Endpoint("/droits_acces", streamed=True),
    "informative_consumption": Endpoint(
        "/pce/{id_pce}/donnees_consos_informatives",
        True,
        3,
        "perim_donnees_informatives",
        CONSO_DATES,
        SUPPLY_ROLES,
    ),
    "published_consumption": Endpoint(
        "/pce/{id_pce}/donnees_consos_publiees",
        True,
        5,
        "perim_donnees_publiees",
        CONSO_DATES,
        SUPPLY_ROLES,
    ),
    "published_injection": Endpoint(
        "/pce/{id_pce}/donnees_injections_publiees",
        True,
        5,
        "perim_donnees_publiees",
        INJECTION_DATES,
        INJECTION_ROLES,
    ),
    "contractual_data": Endpoint(
        "/pce/{id_pce}/donnees_contractuelles", False, None, "perim_donnees_contractuelles"
    ),
    "technical_data": Endpoint(
        "/pce/{id_pce}/donnees_techniques", False, None, "perim_donnees_techniques"
    ),
}


PARTIAL = "partial"  # an answer with a block GRDF failed to serve: never taken as fresh


class BlockKind(StrEnum):
    DATA = "data"
    NO_DATA = "no_data"
    NOT_ALLOWED = "not_allowed"
    RETRY = "retry"
    EMPTY = "empty"  # an answer with no block at all


# statut_restitution carries a code and one of the Swagger's documented messages; the
# codes are not published, so blocks are classified by the documented message text.
_RETRY_MARKER = "retenter votre appel"
_NO_DATA_MARKER = "pas de données correspondant"
_TRANSIENT_MARKERS = ("réessayer", "erreur technique")


def classify_block(block: dict[str, Any]) -> BlockKind:
    status = block.get("statut_restitution")
    if not status:
        return BlockKind.DATA
    message = str(status.get("message", "")) if isinstance(status, dict) else str(status)
    message = message.replace("\u00a0", " ")  # GRDF writes some messages with NBSPs
    if _RETRY_MARKER in message:
        return BlockKind.RETRY
    if _NO_DATA_MARKER in message:
        return BlockKind.NO_DATA
    return BlockKind.NOT_ALLOWED


@dataclass(frozen=True)
class BlockStatus:
    kind: BlockKind
    code: str
    message: str
    period: tuple[date, date] | None = None  # the block's `periode`, to ask again


@dataclass(frozen=True)
class RawAnswer:
    """One HTTP answer as received, for the gas days it was asked for: the raw zone's unit."""

    first_day: date
    last_day: date
    body: bytes
    kind: str = ""  # the outcome it gave: data, no_data, not_allowed
    records: int = 0  # its data blocks


@dataclass
class CallOutcome:
    """What one PCE call gave: its data blocks, the statuses of the other blocks, and
    the answers as received (one, or more when GRDF asked to retry a block)."""

    id_pce: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[BlockStatus] = field(default_factory=list)
    answers: list[RawAnswer] = field(default_factory=list)
    stopped: QuotaExhausted | None = None  # the daily budget ran out during block retries

    @property
    def kind(self) -> BlockKind:
        if self.blocks:
            return BlockKind.DATA
        return self.statuses[0].kind if self.statuses else BlockKind.EMPTY

    @property
    def unserved_periods(self) -> list[tuple[date, date]]:
        """Gas days this outcome says nothing about (failed or refused blocks): not landed,
        and the rows landed before on those days are kept."""
        return self._periods({BlockKind.RETRY, BlockKind.NOT_ALLOWED})

    @property
    def reason(self) -> str | None:
        """Why a call gave no data (the first non-data message), for the outcome log."""
        return None if self.blocks or not self.statuses else self.statuses[0].message

    def _periods(self, kinds: set[BlockKind]) -> list[tuple[date, date]]:
        return [days for s in self.statuses if s.kind in kinds and (days := _days_of(s))]


@dataclass
class RightsListing:
    rights: list[dict[str, Any]]
    malformed_ids: list[str]
    answer: RawAnswer


class AdictTraitementError(UpstreamError):
    """HTTP 200 whose status object carries a non-zero `code_statut_traitement`."""


def is_valid_pce_id(value: object) -> bool:
    return isinstance(value, str) and PCE_ID.fullmatch(value) is not None


class AdictClient:
    """The ADICT calls gazoduc makes; each returns typed outcomes, never raw responses."""

    # A block flagged "retry on this period" is asked again at most this many times.
    BLOCK_RETRIES = 2

    def __init__(self, base_url: str, caller: ApiCaller) -> None:
        self.base_url = base_url.rstrip("/")
        self.caller = caller

    def access_rights(self, today: date) -> RightsListing:
        """All our rights in one call; rights with a malformed PCE id are set aside."""
        body, records = self.caller.call("GET", self._url("access_rights"), _read_stream)
        return _rights_listing(RawAnswer(today, today, body), records)

    def window(self, dataset: str, id_pce: str, first_day: date, last_day: date) -> CallOutcome:
        """Consumption or injection of one PCE for gas days [first_day, last_day].

        A block GRDF failed to serve ("retry the call on the period mentioned above") is
        asked again for its own period, up to BLOCK_RETRIES times; one still failing is
        left in the outcome's statuses, so its days are neither landed nor cleared.
        """
        _check_pce_id(id_pce)
        outcome = self._ask(dataset, id_pce, first_day, last_day)
        for _ in range(self.BLOCK_RETRIES):
            failed = _failed_blocks(outcome, first_day, last_day)
            if not failed:
                break
            outcome.statuses = [s for s in outcome.statuses if s.kind is not BlockKind.RETRY]
            for status, (start, end) in failed:
                log.warning(
                    "PCE %s: block %s..%s failed upstream; asking again", id_pce, start, end
                )
                try:
                    again = self._ask(dataset, id_pce, start, end)
                except QuotaExhausted as exc:
                    outcome.statuses.append(status)  # still failed: kept as a gap
                    outcome.stopped = exc  # the caller stores what came, then stops
                    return outcome
                except (UpstreamError, MalformedStreamError) as exc:
                    # The first answer is paid for and good but for this block: keep it.
                    log.error("PCE %s: asking again for %s failed: %s", id_pce, start, exc)
                    outcome.statuses.append(status)
                    continue
                outcome.blocks += again.blocks  # a day twice: the newer answer wins at landing
                outcome.statuses += again.statuses
                outcome.answers += again.answers
        return outcome

    def document(self, dataset: str, id_pce: str, today: date) -> CallOutcome:
        """Contractual or technical data of one PCE (a single JSON document)."""
        _check_pce_id(id_pce)
        body, document = self.caller.call("GET", self._url(dataset, id_pce), _read_document)
        return _typed_outcome(id_pce, RawAnswer(today, today, body), [document])

    def _ask(self, dataset: str, id_pce: str, first_day: date, last_day: date) -> CallOutcome:
        # date_fin = last + 1: whether GRDF reads the bound inclusively or not, the last
        # day is covered; blocks outside [first, last] are dropped at landing.
        end = last_day + timedelta(days=1)
        params = {"date_debut": first_day.isoformat(), "date_fin": end.isoformat()}
        url = self._url(dataset, id_pce)
        body, blocks = self.caller.call("GET", url, _read_stream, params=params)
        return _typed_outcome(id_pce, RawAnswer(first_day, last_day, body), blocks)

    def _url(self, dataset: str, id_pce: str | None = None) -> str:
        return self.base_url + ENDPOINTS[dataset].path.format(id_pce=id_pce)


def outcome_from_answer(dataset: str, id_pce: str, answer: RawAnswer) -> CallOutcome:
    """Typed outcome of a stored answer: what a call gives, and what a reparse rebuilds."""
    if ENDPOINTS[dataset].streamed:
        blocks = parse_stream(answer.body, dataset)
    else:
        blocks = [parse_document(answer.body, dataset)]
    return _typed_outcome(id_pce, answer, blocks)


def _typed_outcome(id_pce: str, answer: RawAnswer, blocks: list[dict[str, Any]]) -> CallOutcome:
    outcome = _outcome(id_pce, blocks)
    partial = outcome.unserved_periods and outcome.kind in (BlockKind.DATA, BlockKind.RETRY)
    kind = PARTIAL if partial else str(outcome.kind)
    outcome.answers.append(replace(answer, kind=kind, records=len(outcome.blocks)))
    return outcome


def rights_from_answer(answer: RawAnswer) -> RightsListing:
    return _rights_listing(answer, parse_stream(answer.body, "access_rights"))


def read_window(answer: Answer, body: bytes) -> CallOutcome:
    """A stored windowed answer (consumption, injection) as the warehouse builds it."""
    return outcome_from_answer(
        answer.dataset, answer.scope, RawAnswer(answer.first_day, answer.last_day, body)
    )


def read_records(answer: Answer, body: bytes) -> list[dict[str, Any]]:
    """A stored document answer's records: the rights of the list, a PCE's document."""
    stored = RawAnswer(answer.first_day, answer.last_day, body)
    if answer.dataset == "access_rights":
        return rights_from_answer(stored).rights
    return outcome_from_answer(answer.dataset, answer.scope, stored).blocks


def _rights_listing(answer: RawAnswer, records: list[dict[str, Any]]) -> RightsListing:
    good = [r for r in records if is_valid_pce_id(r.get("id_pce"))]
    malformed = [str(r.get("id_pce")) for r in records if not is_valid_pce_id(r.get("id_pce"))]
    if malformed:
        log.warning("skipped %d access rights with a malformed PCE id", len(malformed))
    return RightsListing(good, malformed, replace(answer, kind=BlockKind.DATA, records=len(good)))


def _failed_blocks(
    outcome: CallOutcome, first_day: date, last_day: date
) -> list[tuple[BlockStatus, tuple[date, date]]]:
    """Failed blocks within [first_day, last_day], with the gas days to ask again. A block
    outside it (the day after, since date_fin is sent as last + 1) is not ours to retry."""
    failed = []
    for status in outcome.statuses:
        if status.kind is not BlockKind.RETRY:
            continue
        start, end = _days_of(status) or (first_day, last_day)
        start, end = max(start, first_day), min(end, last_day)
        if start <= end:
            failed.append((status, (start, end)))
    return failed


def _days_of(status: BlockStatus) -> tuple[date, date] | None:
    """The gas days of a block's `periode` (its date_fin is the day after the last)."""
    if status.period is None:
        return None
    start, stop = status.period
    return start, max(start, stop - timedelta(days=1))


def _check_pce_id(id_pce: str) -> None:
    if not is_valid_pce_id(id_pce):
        raise RequestNotSent(f"invalid PCE id {id_pce!r}: expected 14 digits or GI + 6 digits")


def _outcome(id_pce: str, blocks: list[dict[str, Any]]) -> CallOutcome:
    outcome = CallOutcome(id_pce)
    for block in blocks:
        kind = classify_block(block)
        if kind is BlockKind.DATA:
            outcome.blocks.append(block)
            continue
        status = block.get("statut_restitution") or {}
        outcome.statuses.append(
            BlockStatus(
                kind, str(status.get("code", "")), str(status.get("message", "")), _period(block)
            )
        )
    return outcome


def _period(block: dict[str, Any]) -> tuple[date, date] | None:
    periode = block.get("periode") or {}
    try:
        return date.fromisoformat(periode["date_debut"][:10]), date.fromisoformat(
            periode["date_fin"][:10]
        )
    except (KeyError, TypeError, ValueError):
        return None


def _read_stream(response: httpx.Response) -> tuple[bytes, list[dict[str, Any]]]:
    """The whole NDJSON answer and its records, returned only if the stream ended cleanly.

    Parsing inside the attempt makes a cut stream, a malformed line or a "retry" trailer
    fail this attempt, so nothing of it is ever stored; the bytes go to the raw zone.
    """
    _raise_for_client_error(response)
    body = response.read()
    return body, parse_stream(body, response.url.path)


def _read_document(response: httpx.Response) -> tuple[bytes, dict[str, Any]]:
    _raise_for_client_error(response)
    body = response.read()
    return body, parse_document(body, response.url.path)


def parse_stream(body: bytes, where: str) -> list[dict[str, Any]]:
    records, trailer = split_trailer(iter_json_objects([body]))
    _check_trailer(trailer, where)
    return records


def parse_document(body: bytes, where: str) -> dict[str, Any]:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedStreamError(f"{where}: not JSON ({exc})") from None
    if not isinstance(document, dict):
        raise MalformedStreamError(f"{where}: expected a JSON object")
    return document


def _raise_for_client_error(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    response.read()
    message = _statut_message(response)
    if any(marker in message for marker in _TRANSIENT_MARKERS):
        # The Swagger's 400 "… veuillez réessayer ultérieurement", 409 "erreur technique".
        raise RetryableError(f"HTTP {response.status_code}: {message}")
    raise UpstreamError(
        f"{response.request.method} {response.url.path}?{response.url.query.decode()}: "
        f"HTTP {response.status_code}: {_statut_message(response)}"
    )


def _statut_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    status = body.get("statut_restitution") if isinstance(body, dict) else None
    if isinstance(status, dict):
        return f"{status.get('code')} {status.get('message')}"
    return str(body)[:300]


def _check_trailer(trailer: Trailer | None, where: str) -> None:
    if trailer is None or trailer.ok:
        return
    message = f"{where}: code_statut_traitement {trailer.code}: {trailer.message}"
    if _RETRY_MARKER in trailer.message or "réessayer" in trailer.message:
        raise RetryableError(message)
    raise AdictTraitementError(message)


class AdictResource(UpstreamResource):
    """GRDF ADICT, configured by ADICT_* variables (see README)."""

    API: ClassVar[str] = API
    client_secret: str = Field(repr=False)
    scope: str | None = None

    @contextmanager
    def client(self) -> Iterator[AdictClient]:
        """A client for one run: its own HTTP pool and token, the shared quota ledger."""
        self.check()
        with httpx.Client(timeout=timeouts(), follow_redirects=False) as http:
            credentials = ClientCredentials(
                http, self.token_url, self.client_id, self.client_secret, self.value("scope")
            )
            yield AdictClient(self.base_url, ApiCaller(http, credentials, self.ledger()))
