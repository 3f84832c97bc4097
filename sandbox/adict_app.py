"""GRDF ADICT v2 sandbox: the real routes over HTTP, with OAuth, quotas and faults.

Each `/adict/v2` call goes through, in order: bearer token (401, not counted), quota
(429, not counted in the daily budget), faults (latency, 500), then the handler. The
`/_sandbox/*` control routes need no token and are not logged.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email import policy
from email.parser import BytesParser
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from sandbox.adict_data import (
    ERROR_TRAILER,
    SUCCESS_TRAILER,
    ConsentDesk,
    DataType,
    Gda,
    GdaRefusal,
    Pce,
    Portfolio,
    Proof,
    build_portfolio,
    filter_rights,
    record_response,
    stream_blocks,
)
from sandbox.adict_params import (
    CONTRACTUAL_FILTERS,
    ID_PCE,
    BadRequest,
    InvalidRequest,
    check_declaration,
    check_id_pce,
    parse_window,
    periode_echo,
)
from sandbox.clock import PARIS, SandboxClock
from sandbox.faults import Faults
from sandbox.oauth import TokenIssuer
from sandbox.quota import CallRecord, ServerQuota

log = logging.getLogger(__name__)

NDJSON = "application/x-ndjson"
SERVER_ERROR = {
    "code": "2000000",
    "message": "Le serveur a rencontré une erreur lors de l’exécution de la requête, "
    "veuillez réessayer ultérieurement.",
}
RIGHTS_ERROR = {
    "code_statut_traitement": "2000000001",
    "message_retour_traitement": "Une erreur technique est survenue.",
}
NO_RIGHTS_TRAILER = SUCCESS_TRAILER | {"message_retour_traitement": "Aucun droit d’accès trouvé."}
RIGHTS_FILTERS = ("id_pce", "role_tiers", "etat_droit_acces", "statut_controle_preuve")
_CHUNK_BYTES = 64 * 1024  # batch lines: each chunk of a sync iterator costs a thread hop


@dataclass
class AdictSandboxConfig:
    seed: int = 7
    portfolio_size: int = 20
    calls_per_second: float = 1.0
    calls_per_day: int = 6000
    token_ttl_seconds: int = 14400
    clients: dict[str, str] = field(default_factory=lambda: {"gazoduc-sandbox": "sandbox-secret"})
    today: date | None = None  # None: the real Paris date
    include_malformed_pce: bool = True
    prospects: int = 250  # meters without a right of ours, for declarations


class AdictClock(SandboxClock):
    """Paris date *and time*: seed 003's one validation e-mail per 60 s needs seconds.

    `set(day)` freezes noon of that day; `set_now(moment)` freezes an instant and
    `advance(seconds)` moves it; `set(None)` goes back to real time.
    """

    def __init__(self, today: date | None = None) -> None:
        super().__init__(today)
        self._now: datetime | None = None

    def now(self) -> datetime:
        with self._lock:
            moment, day = self._now, self._fixed
        if moment is not None:
            return moment
        if day is not None:
            return datetime(day.year, day.month, day.day, 12, tzinfo=PARIS)
        return datetime.now(PARIS)

    def today(self) -> date:
        return self.now().date()

    def set(self, today: date | None) -> None:
        with self._lock:
            self._fixed, self._now = today, None

    def set_now(self, now: datetime | None) -> None:
        with self._lock:
            self._now = now.astimezone(PARIS) if now is not None else None

    def advance(self, seconds: float) -> None:
        self.set_now(self.now() + timedelta(seconds=seconds))


@dataclass
class AdictSandbox:
    """Everything the app serves from; `app.state.sandbox`."""

    config: AdictSandboxConfig
    clock: AdictClock
    desk: ConsentDesk
    tokens: TokenIssuer
    quota: ServerQuota
    faults: Faults = field(default_factory=Faults)
    # The next N write calls are applied, then answered this late: a client timeout
    # after the server acted, the case a blind retry gets wrong.
    late_answers: int = 0
    late_seconds: float = 2.0
    _failed_once: set[tuple[str, str, date]] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_config(cls, config: AdictSandboxConfig) -> AdictSandbox:
        clock = AdictClock(config.today)
        portfolio = build_portfolio(
            config.seed,
            config.portfolio_size,
            clock.today(),
            config.include_malformed_pce,
            config.prospects,
        )
        return cls(
            config=config,
            clock=clock,
            desk=ConsentDesk(portfolio),
            tokens=TokenIssuer(config.clients, config.token_ttl_seconds),
            quota=ServerQuota(config.calls_per_second, config.calls_per_day, clock),
        )

    @property
    def portfolio(self) -> Portfolio:
        """The rights as they stand now (declarations add to them)."""
        return self.desk.portfolio

    def answer_late(self) -> float:
        """Seconds to hold this write's answer back (0: answer at once)."""
        with self._lock:
            if self.late_answers <= 0:
                return 0.0
            self.late_answers -= 1
            return self.late_seconds

    def fails_once_for(self, client_id: str) -> Callable[[Pce, date], bool]:
        """The transient block error: True the first time a client is served that block."""

        def fails_now(pce: Pce, day: date) -> bool:
            with self._lock:
                first_time = (client_id, pce.id_pce, day) not in self._failed_once
                self._failed_once.add((client_id, pce.id_pce, day))
            return first_time

        return fails_now

    def reset(self) -> None:
        """Forget calls, quota counters and which transient errors were already served."""
        self.quota.reset()
        with self._lock:
            self._failed_once.clear()


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class SimulatedCut(RuntimeError):
    """Raised mid-stream on purpose: uvicorn then drops the connection unfinished."""


class _QuietCuts(logging.Filter):
    """Spare the console uvicorn's traceback for a cut we made on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], SimulatedCut))


_QUIET_CUTS = _QuietCuts()


# --- NDJSON streams ------------------------------------------------------------------


def ndjson_response(faults: Faults, objects: Iterable[dict[str, Any]]) -> StreamingResponse:
    """One JSON object per line (or pretty-printed), applying the stream faults."""
    option = orjson.OPT_INDENT_2 if faults.pretty else 0
    lines: Iterator[bytes] = (orjson.dumps(obj, option=option) + b"\n" for obj in objects)
    if faults.take("cut_next"):
        lines = _cut_half_way(list(lines))
    return StreamingResponse(_chunks(lines), media_type=NDJSON)


def _cut_half_way(lines: list[bytes]) -> Iterator[bytes]:
    yield from lines[: len(lines) // 2]
    log.warning("fault: stream cut after %d of %d lines", len(lines) // 2, len(lines))
    raise SimulatedCut("sandbox fault: stream cut")


def _chunks(lines: Iterator[bytes]) -> Iterator[bytes]:
    buffer = bytearray()
    for line in lines:
        buffer += line
        if len(buffer) >= _CHUNK_BYTES:
            yield bytes(buffer)
            buffer.clear()
    if buffer:
        yield bytes(buffer)


def _with_trailer(faults: Faults, objects: Iterable[dict], trailer: dict) -> Iterator[dict]:
    yield from objects
    yield _final_status(faults, trailer)


def _final_status(faults: Faults, trailer: dict[str, str]) -> dict[str, str]:
    return ERROR_TRAILER if faults.take("trailer_error_next") else trailer


# --- handlers ------------------------------------------------------------------------

Handler = Callable[[Request, AdictSandbox, str, DataType | None], Awaitable[Response]]


async def rights(
    request: Request, sandbox: AdictSandbox, client_id: str, _: DataType | None
) -> Response:
    """GET: every right of the client; POST: those matching the body's lists."""
    found = list(sandbox.portfolio.rights)
    if request.method == "POST":
        try:
            found = filter_rights(sandbox.portfolio.rights, _rights_filters(await request.body()))
        except ValueError:
            error = RIGHTS_ERROR | {"code_statut_traitement": "1000000000"}
            return JSON(error, status_code=400)
    trailer = SUCCESS_TRAILER if found else NO_RIGHTS_TRAILER
    if sandbox.faults.wrap_rights:  # seen upstream: one object, the list inside
        wrapped = _final_status(sandbox.faults, trailer) | {"liste_acces": found}
        return ndjson_response(sandbox.faults, [wrapped])
    return ndjson_response(sandbox.faults, _with_trailer(sandbox.faults, found, trailer))


def _rights_filters(body: bytes) -> dict[str, list[str]]:
    filters = orjson.loads(body or b"{}")  # orjson.JSONDecodeError is a ValueError
    if not isinstance(filters, dict):
        raise ValueError("the body must be a JSON object")
    # The swagger types each filter as a string; GRDF's guide sends lists. Take both.
    return {
        key: [value] if isinstance(value, str) else list(value or [])
        for key, value in filters.items()
        if key in RIGHTS_FILTERS
    }


async def consumption(
    request: Request, sandbox: AdictSandbox, client_id: str, data_type: DataType | None
) -> Response:
    """The three NDJSON data routes: informative, published, injections."""
    assert data_type is not None
    id_pce, query = request.path_params["id_pce"], request.query_params
    today = sandbox.clock.today()
    try:
        check_id_pce(id_pce)
        window = parse_window(query, data_type, today)
    except InvalidRequest as invalid:
        body = _block_error(id_pce, data_type, invalid.reason.to_json(), periode_echo(query))
        return JSON(body, status_code=400)
    blocks = stream_blocks(
        sandbox.portfolio, id_pce, data_type, window, today, sandbox.fails_once_for(client_id)
    )
    return ndjson_response(sandbox.faults, _with_trailer(sandbox.faults, blocks, SUCCESS_TRAILER))


async def record(
    request: Request, sandbox: AdictSandbox, client_id: str, data_type: DataType | None
) -> Response:
    """donnees_contractuelles (with optional `filtre=` keys) and donnees_techniques."""
    assert data_type is not None
    id_pce, filters = request.path_params["id_pce"], request.query_params.getlist("filtre")
    if not ID_PCE.fullmatch(id_pce):
        return JSON(_record_error(id_pce, data_type, BadRequest.BAD_PCE_ID.to_json()), 400)
    if data_type is DataType.CONTRACTUAL and not CONTRACTUAL_FILTERS.issuperset(filters):
        return JSON(_record_error(id_pce, data_type, BadRequest.BAD_FILTER.to_json()), 400)
    body = record_response(sandbox.portfolio, id_pce, data_type, sandbox.clock.today())
    if data_type is DataType.CONTRACTUAL and filters and body["donnees_contractuelles"]:
        data = body["donnees_contractuelles"]
        body["donnees_contractuelles"] = {key: data[key] for key in filters}
    return JSON(body)


async def declare(
    request: Request, sandbox: AdictSandbox, client_id: str, _: DataType | None
) -> Response:
    """PUT /pce/{id_pce}/droit_acces: a right "A valider", or the Swagger's refusal."""
    id_pce, body = request.path_params["id_pce"], _json_object(await request.body())
    now = sandbox.clock.now()
    try:
        check_declaration(id_pce, body, now.date())
        right = sandbox.desk.declare(id_pce, body, now)
    except GdaRefusal as refusal:
        return _gda(refusal.answer)
    await asyncio.sleep(sandbox.answer_late())
    return _gda(Gda.DECLARED, _declared_out(right))


def _declared_out(right: dict[str, Any]) -> dict[str, Any]:
    """demander_acces_out: the right as created, `date_creation` under its own name."""
    out = {key: right[key] for key in _DECLARED_OUT}
    return out | {"date_creation_droit_acces": right["date_creation"]}


_DECLARED_OUT = (
    "id_pce",
    "role_tiers",
    "id_droit_acces",
    "etat_droit_acces",
    "date_debut_droit_acces",
    "date_fin_droit_acces",
    "nom_titulaire",
    "raison_sociale_du_titulaire",
    "courriel_titulaire",
    "numero_telephone_mobile_titulaire",
    "code_postal",
    "perim_donnees_conso_debut",
    "perim_donnees_conso_fin",
    "perim_donnees_contractuelles",
    "perim_donnees_techniques",
    "perim_donnees_informatives",
    "perim_donnees_publiees",
    "parcours",
)


async def revoke(
    request: Request, sandbox: AdictSandbox, client_id: str, _: DataType | None
) -> Response:
    """PATCH /droit_acces/{id_droit_acces}: final."""
    try:
        sandbox.desk.revoke(request.path_params["id_droit_acces"], sandbox.clock.now())
    except GdaRefusal as refusal:
        return _gda(refusal.answer)
    await asyncio.sleep(sandbox.answer_late())
    return _gda(Gda.SUCCESS)


async def proofs(
    request: Request, sandbox: AdictSandbox, client_id: str, _: DataType | None
) -> Response:
    """PUT /droit_acces/{id_droit_acces}/preuves: multipart, field `preuves` repeated."""
    try:
        files = _proof_files(request.headers.get("content-type", ""), await request.body())
        right_id = request.path_params["id_droit_acces"]
        sandbox.desk.receive_proofs(right_id, files, sandbox.clock.today())
    except GdaRefusal as refusal:
        return _gda(refusal.answer)
    await asyncio.sleep(sandbox.answer_late())
    return _gda(Gda.SUCCESS)


def _proof_files(content_type: str, body: bytes) -> list[Proof]:
    """The `preuves` parts of a multipart/form-data body (the standard library's MIME
    parser: a form parser would be one more dependency for one route)."""
    if not content_type.startswith("multipart/form-data"):
        raise GdaRefusal(Gda.PROOFS_MALFORMED)
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    files = [
        Proof(part.get_filename() or "", part.get_payload(decode=True) or b"")
        for part in (message.iter_parts() if message.is_multipart() else ())
        if part.get_param("name", header="content-disposition") == "preuves"
    ]
    if not files:
        raise GdaRefusal(Gda.PROOFS_MALFORMED)
    return files


def _json_object(body: bytes) -> dict[str, Any]:
    """A request body as a JSON object; anything else reads as empty (then a 400)."""
    try:
        value = orjson.loads(body or b"{}")
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _gda(answer: Gda, extra: dict[str, Any] | None = None) -> Response:
    return JSON(answer.to_json() | (extra or {}), status_code=answer.status)


def _block_error(id_pce: str, data_type: DataType, statut: dict, echo: dict) -> dict[str, Any]:
    """Conso_restit_400/500 (Injection_restit_* for injections): no data, a status."""
    data_key = "injection" if data_type is DataType.INJECTION else "consommation"
    return {
        "pce": {"id_pce": id_pce},
        "periode": echo,
        "releve_debut": None,
        "releve_fin": None,
        data_key: None,
        "statut_restitution": statut,
    }


def _record_error(id_pce: str, data_type: DataType, statut: dict) -> dict[str, Any]:
    key = "donnees_contractuelles" if data_type is DataType.CONTRACTUAL else "donnees_techniques"
    return {"pce": {"id_pce": id_pce}, key: {}, "statut_restitution": statut}


def _server_error(request: Request, data_type: DataType | None) -> dict[str, Any]:
    """The swagger's 500 body for the route called."""
    id_pce = request.path_params.get("id_pce", "")
    if data_type is None:
        return RIGHTS_ERROR
    if data_type in (DataType.CONTRACTUAL, DataType.TECHNICAL):
        return _record_error(id_pce, data_type, SERVER_ERROR)
    return _block_error(id_pce, data_type, SERVER_ERROR, periode_echo(request.query_params))


# --- the guard every /adict/v2 route goes through ------------------------------------------


Endpoint = Callable[[Request], Awaitable[Response]]


def guarded(handler: Handler, data_type: DataType | None) -> Endpoint:
    """The handler behind auth, quota and faults; every call, refused or not, is logged."""

    async def endpoint(request: Request) -> Response:
        sandbox: AdictSandbox = request.app.state.sandbox
        arrival = time.time()
        client_id = sandbox.tokens.authenticate(request.headers.get("authorization"))
        response = await _refusal(request, sandbox, client_id, data_type)
        if response is None:
            assert client_id is not None
            response = await handler(request, sandbox, client_id, data_type)
        sandbox.quota.log_call(
            CallRecord(
                client_id=client_id,
                method=request.method,
                path=request.url.path,
                query=_query_dict(request),
                time=arrival,
                status=response.status_code,
            )
        )
        return response

    return endpoint


def _query_dict(request: Request) -> dict[str, str | list[str]]:
    """Query parameters, a list where a name repeats (`filtre=cja&filtre=car`)."""
    params = request.query_params
    return {k: v[0] if len(v := params.getlist(k)) == 1 else v for k in params}


async def _refusal(
    request: Request, sandbox: AdictSandbox, client_id: str | None, data_type: DataType | None
) -> Response | None:
    if client_id is None:
        body = {"code": "401", "message": "Jeton d'accès absent, invalide ou expiré."}
        return JSON(body, status_code=401, headers={"WWW-Authenticate": "Bearer"})
    if rejection := sandbox.quota.try_acquire(client_id):
        log.info("quota: %s refused, retry in %ss", client_id, rejection.retry_after)
        headers = {"Retry-After": str(rejection.retry_after)}
        return JSON({"code": "429", "message": rejection.message}, 429, headers=headers)
    if sandbox.faults.latency_ms:
        await asyncio.sleep(sandbox.faults.latency_ms / 1000)
    if sandbox.faults.take("fail_next"):
        return JSON(_server_error(request, data_type), status_code=500)
    return None


# --- control routes ------------------------------------------------------------------------


async def control_calls(request: Request) -> Response:
    return JSON([call.to_json() for call in request.app.state.sandbox.quota.calls()])


async def control_faults(request: Request) -> Response:
    faults: Faults = request.app.state.sandbox.faults
    if request.method == "POST":
        try:
            faults.update(orjson.loads(await request.body()))
        except (ValueError, AttributeError) as error:
            return JSON({"error": str(error)}, status_code=400)
    return JSON(faults.to_json())


async def control_clock(request: Request) -> Response:
    """POST `{"today": "2026-11-22"}` (noon), `{"now": "2026-11-22T10:00:00+01:00"}`,
    `{"advance_seconds": 61}` or `{}` (real time again)."""
    clock: AdictClock = request.app.state.sandbox.clock
    try:
        body = orjson.loads(await request.body())
        if body.get("now"):
            clock.set_now(datetime.fromisoformat(body["now"]))
        elif body.get("advance_seconds") is not None:
            clock.advance(float(body["advance_seconds"]))
        else:
            clock.set(date.fromisoformat(body["today"]) if body.get("today") else None)
    except (ValueError, AttributeError, TypeError) as error:
        return JSON({"error": str(error)}, status_code=400)
    return JSON({"today": clock.today().isoformat(), "now": clock.now().isoformat()})


async def control_validations(request: Request) -> Response:
    """GET: the validation e-mails sent; POST `{"number": 1, "decision": "valider"}`
    stands for the holder clicking it (or "refuser")."""
    sandbox: AdictSandbox = request.app.state.sandbox
    if request.method == "POST":
        try:
            body = orjson.loads(await request.body())
            number, decision = int(body["number"]), str(body["decision"])
            changed = sandbox.desk.answer_email(number, decision, sandbox.clock.now())
        except (ValueError, KeyError, IndexError, TypeError) as error:
            return JSON({"error": str(error)}, status_code=400)
        return JSON({"id_droit_acces": changed})
    return JSON([email.to_json() for email in sandbox.desk.emails])


async def control_proof_status(request: Request) -> Response:
    """POST `{"id_droit_acces": [...], "statut_controle_preuve": "Preuve en attente"}`:
    GRDF opens a control campaign on these rights (or gives its verdict)."""
    sandbox: AdictSandbox = request.app.state.sandbox
    try:
        body = orjson.loads(await request.body())
        for right_id in body["id_droit_acces"]:
            status = body["statut_controle_preuve"]
            sandbox.desk.set_proof_status(right_id, status, sandbox.clock.today())
    except (ValueError, KeyError, TypeError) as error:
        return JSON({"error": str(error)}, status_code=400)
    return JSON({"updated": len(body["id_droit_acces"])})


async def control_late_answers(request: Request) -> Response:
    """POST `{"next": 1, "seconds": 3}`: the next writes act, then answer that late."""
    sandbox: AdictSandbox = request.app.state.sandbox
    try:
        body = orjson.loads(await request.body())
        sandbox.late_answers, sandbox.late_seconds = int(body["next"]), float(body["seconds"])
    except (ValueError, KeyError, TypeError) as error:
        return JSON({"error": str(error)}, status_code=400)
    return JSON({"next": sandbox.late_answers, "seconds": sandbox.late_seconds})


async def control_reset(request: Request) -> Response:
    request.app.state.sandbox.reset()
    return JSON({"reset": True})


def build_adict_app(config: AdictSandboxConfig | None = None) -> Starlette:
    sandbox = AdictSandbox.from_config(config or AdictSandboxConfig())
    base = "/adict/v2"
    pce_routes = {
        "donnees_consos_informatives": (consumption, DataType.INFORMATIVE),
        "donnees_consos_publiees": (consumption, DataType.PUBLISHED),
        "donnees_injections_publiees": (consumption, DataType.INJECTION),
        "donnees_contractuelles": (record, DataType.CONTRACTUAL),
        "donnees_techniques": (record, DataType.TECHNICAL),
    }
    routes = [
        Route("/oauth2/token", sandbox.tokens.token_endpoint, methods=["POST"]),
        Route(f"{base}/droits_acces", guarded(rights, None), methods=["GET", "POST"]),
        Route(f"{base}/pce/{{id_pce}}/droit_acces", guarded(declare, None), methods=["PUT"]),
        Route(f"{base}/droit_acces/{{id_droit_acces}}", guarded(revoke, None), methods=["PATCH"]),
        Route(
            f"{base}/droit_acces/{{id_droit_acces}}/preuves",
            guarded(proofs, None),
            methods=["PUT"],
        ),
        *(
            Route(f"{base}/pce/{{id_pce}}/{name}", guarded(handler, data_type), methods=["GET"])
            for name, (handler, data_type) in pce_routes.items()
        ),
        Route("/_sandbox/calls", control_calls, methods=["GET"]),
        Route("/_sandbox/faults", control_faults, methods=["GET", "POST"]),
        Route("/_sandbox/clock", control_clock, methods=["POST"]),
        Route("/_sandbox/reset", control_reset, methods=["POST"]),
        Route("/_sandbox/validations", control_validations, methods=["GET", "POST"]),
        Route("/_sandbox/proof_status", control_proof_status, methods=["POST"]),
        Route("/_sandbox/late_answers", control_late_answers, methods=["POST"]),
    ]
    app = Starlette(routes=routes)
    app.state.sandbox = sandbox
    logging.getLogger("uvicorn.error").addFilter(_QUIET_CUTS)  # no-op when already there
    return app
