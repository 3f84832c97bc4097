"""GRDF ADICT v2 client: access rights, consumption and injection streams, C&T documents.

Contract: GRDF's Swagger (`shared/references/adict-v2-swagger.json`). Every call goes
through the shared quota ledger (1 call/s, 6,000 to 240,000 a day per client).
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import orjson

from resources.http import ApiCaller, ClientCredentials, RetryableError, UpstreamError, timeouts
from resources.quota import QuotaLedger, QuotaLimits, ledger_path
from resources.streams import MalformedStreamError, Trailer, iter_json_objects, split_trailer

log = logging.getLogger(__name__)

API = "adict"
PCE_ID = re.compile(r"^(GI\d{6}|\d{14})$")


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


class BlockKind(StrEnum):
    DATA = "data"
    NO_DATA = "no_data"
    NOT_ALLOWED = "not_allowed"
    RETRY = "retry"


# statut_restitution carries a code and one of the Swagger's documented messages; the
# codes are not published, so blocks are classified by the documented message text.
_RETRY_MARKER = "retenter votre appel"
_NO_DATA_MARKER = "pas de données correspondant"


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


@dataclass
class CallOutcome:
    """What one PCE call gave: its data blocks and the statuses of the other blocks."""

    id_pce: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[BlockStatus] = field(default_factory=list)

    @property
    def kind(self) -> str:
        if self.blocks:
            return BlockKind.DATA
        return self.statuses[0].kind if self.statuses else "empty"

    @property
    def reason(self) -> str | None:
        """Why a call gave no data (the first non-data message), for the outcome log."""
        return None if self.blocks or not self.statuses else self.statuses[0].message


@dataclass
class RightsListing:
    rights: list[dict[str, Any]]
    malformed_ids: list[str]


class AdictTraitementError(UpstreamError):
    """HTTP 200 whose status object carries a non-zero `code_statut_traitement`."""


def is_valid_pce_id(value: object) -> bool:
    return isinstance(value, str) and bool(PCE_ID.match(value))


class AdictClient:
    """The ADICT calls gazoduc makes; each returns typed outcomes, never raw responses."""

    # A block flagged "retry on this period" is asked again at most this many times.
    BLOCK_RETRIES = 2

    def __init__(self, base_url: str, caller: ApiCaller) -> None:
        self.base_url = base_url.rstrip("/")
        self.caller = caller

    def access_rights(self) -> RightsListing:
        """All our rights in one call; rights with a malformed PCE id are set aside."""
        records = self.caller.call("GET", self._url("access_rights"), _read_stream)
        good = [r for r in records if is_valid_pce_id(r.get("id_pce"))]
        malformed = [str(r.get("id_pce")) for r in records if not is_valid_pce_id(r.get("id_pce"))]
        if malformed:
            log.warning("skipped %d access rights with a malformed PCE id", len(malformed))
        return RightsListing(good, malformed)

    def window(self, dataset: str, id_pce: str, first_day: date, last_day: date) -> CallOutcome:
        """Consumption or injection of one PCE for gas days [first_day, last_day].

        `date_fin` is sent as last_day + 1: whether GRDF reads the bound inclusively or
        not, the last day is covered; blocks outside the window are dropped by the caller.
        """
        _check_pce_id(id_pce)
        end = last_day + timedelta(days=1)
        outcome = self._stream_outcome(dataset, id_pce, first_day, end)
        for _ in range(self.BLOCK_RETRIES):
            failed = [s for s in outcome.statuses if s.kind is BlockKind.RETRY]
            if not failed:
                break
            settled = [s for s in outcome.statuses if s.kind is not BlockKind.RETRY]
            outcome = CallOutcome(id_pce, outcome.blocks, settled)
            for status in failed:
                # GRDF: "retry the call on the period mentioned above" (the block's periode).
                start, stop = status.period or (first_day, end)
                log.warning(
                    "PCE %s: block %s..%s failed upstream; asking again", id_pce, start, stop
                )
                again = self._stream_outcome(dataset, id_pce, max(start, first_day), min(stop, end))
                outcome.blocks += again.blocks  # duplicates of a day are dropped at landing
                outcome.statuses += again.statuses
        return outcome

    def document(self, dataset: str, id_pce: str) -> CallOutcome:
        """Contractual or technical data of one PCE (a single JSON document)."""
        _check_pce_id(id_pce)
        body = self.caller.call("GET", self._url(dataset, id_pce), _read_document)
        return _outcome(id_pce, [body])

    def _stream_outcome(self, dataset: str, id_pce: str, start: date, end: date) -> CallOutcome:
        params = {"date_debut": start.isoformat(), "date_fin": end.isoformat()}
        blocks = self.caller.call("GET", self._url(dataset, id_pce), _read_stream, params=params)
        return _outcome(id_pce, blocks)

    def _url(self, dataset: str, id_pce: str | None = None) -> str:
        return self.base_url + ENDPOINTS[dataset].path.format(id_pce=id_pce)


def _check_pce_id(id_pce: str) -> None:
    if not is_valid_pce_id(id_pce):
        raise ValueError(f"invalid PCE id {id_pce!r}: expected 14 digits or GI + 6 digits")


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


def _read_stream(response: httpx.Response) -> list[dict[str, Any]]:
    """Read a whole NDJSON answer; nothing is returned unless the stream ended cleanly."""
    _raise_for_client_error(response)
    records, trailer = split_trailer(iter_json_objects(response.iter_bytes()))
    _check_trailer(trailer, response)
    return records


def _read_document(response: httpx.Response) -> dict[str, Any]:
    _raise_for_client_error(response)
    try:
        body = orjson.loads(response.read())
    except orjson.JSONDecodeError as exc:
        raise MalformedStreamError(f"{response.url.path}: not JSON ({exc})") from None
    if not isinstance(body, dict):
        raise MalformedStreamError(f"{response.url.path}: expected a JSON object")
    return body


def _raise_for_client_error(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    response.read()
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


def _check_trailer(trailer: Trailer | None, response: httpx.Response) -> None:
    if trailer is None or trailer.ok:
        return
    message = f"{response.url.path}: code_statut_traitement {trailer.code}: {trailer.message}"
    if _RETRY_MARKER in trailer.message or "réessayer" in trailer.message:
        raise RetryableError(message)
    raise AdictTraitementError(message)


def outcome_summary(outcomes: list[CallOutcome]) -> dict[str, int]:
    """Counts of calls by result, e.g. {"data": 18, "no_data": 3, "not_allowed": 2}."""
    return dict(Counter(str(outcome.kind) for outcome in outcomes))


class AdictResource(dg.ConfigurableResource):
    """GRDF ADICT, configured by ADICT_* variables (see README)."""

    base_url: str
    token_url: str
    client_id: str
    client_secret: str
    scope: str = "/adict/v2"
    calls_per_second: float = 1.0
    calls_per_day: int = 6000
    state_dir: str = ".gazoduc/state"

    def ledger(self) -> QuotaLedger:
        limits = QuotaLimits(self.calls_per_second, self.calls_per_day)
        return QuotaLedger(ledger_path(Path(self.state_dir)), API, self.client_id, limits)

    @contextmanager
    def client(self) -> Iterator[AdictClient]:
        """A client for one run: its own HTTP pool and token, the shared quota ledger."""
        with httpx.Client(timeout=timeouts(), follow_redirects=False) as http:
            credentials = ClientCredentials(
                http, self.token_url, self.client_id, self.client_secret, self.scope
            )
            yield AdictClient(self.base_url, ApiCaller(http, credentials, self.ledger()))
