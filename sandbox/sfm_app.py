"""GRTgaz SFM sandbox: the six resources of seed 001 §14 under `/sfm/v1`, over HTTP.

Each `/sfm/v1` call goes through, in order: bearer token (401), client allowed (403),
faults (500), then the handler; answers and errors are JSON, errors as §13.6's
`{code, message}`. Decisions are `pipelines.sfm_rules`'s, made at the sandbox clock's
instant. The `/_sandbox/*` control routes need no token.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Any, Protocol

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pipelines.sfm_rules import PARIS, SITE_ID, Rejection, Site, TechnicalProblem, error_json
from sandbox.sfm_data import SfmSandbox, SfmSandboxConfig

log = logging.getLogger(__name__)

BASE_PATH = "/sfm/v1"
TOKEN_PATH = "/oauth2/v2.0/token"  # §11.2: Azure AD v2's token URL
GAS_DAY_PARAM = "gasDayDate"

__all__ = ["BASE_PATH", "TOKEN_PATH", "SfmSandboxConfig", "build_sfm_app"]


class Issuer(Protocol):
    """sandbox.oauth.TokenIssuer, or the certificate-based issuer of sandbox.sfm_auth."""

    async def token_endpoint(self, request: Request) -> Response: ...

    def authenticate(self, authorization_header: str | None) -> str | None: ...


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class ApiError(Exception):
    """Answered as §13.6's error object with this HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message

    def response(self) -> JSON:
        return JSON({"code": self.status, "message": self.message}, status_code=self.status)


# --- request helpers ---------------------------------------------------------------------


def _sandbox(request: Request) -> SfmSandbox:
    return request.app.state.sandbox


def _site(request: Request) -> Site:
    site_id = request.path_params["hmsSiteId"]
    if not SITE_ID.match(site_id):
        raise ApiError(400, f"hmsSiteId invalide : {site_id!r} (format LI0000)")
    site = _sandbox(request).site(site_id)
    if site is None:
        raise ApiError(404, f"Site inconnu : {site_id}")
    return site


def _gas_day(request: Request) -> date:
    text = request.query_params.get(GAS_DAY_PARAM, "")
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        raise ApiError(400, f"{GAS_DAY_PARAM} obligatoire, au format YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError as error:
        raise ApiError(400, f"{GAS_DAY_PARAM} invalide : {text}") from error


# --- the six resources of §14 ------------------------------------------------------------


async def all_indicators(request: Request) -> Response:
    """§14.1: a list of siteIndicators objects, one per site with indicators."""
    sandbox, now = _sandbox(request), _sandbox(request).clock.now()
    shown = [sandbox.indicators(site, now) for site in sandbox.sites.values()]
    found = [indicators.to_json() for indicators in shown if indicators is not None]
    if not found:
        raise ApiError(404, "Indicateurs de flexibilité non disponibles")
    return JSON(found)


async def site_indicators(request: Request) -> Response:
    """§14.2: one siteIndicators object."""
    site, sandbox = _site(request), _sandbox(request)
    indicators = sandbox.indicators(site, sandbox.clock.now())
    if indicators is None:
        raise ApiError(404, f"Indicateurs de flexibilité non disponibles pour {site.site_id}")
    return JSON(indicators.to_json())


async def one_profile(request: Request) -> Response:
    """§14.3: one hmsProfile, with its feasibility."""
    profile_id = request.path_params["hmsProfileId"]
    profile = _sandbox(request).profile(profile_id)
    if profile is None:
        raise ApiError(404, f"Programme inconnu : {profile_id}")
    return JSON(profile.to_json())


async def site_profiles(request: Request) -> Response:
    """§14.5: every program of a site and gas day, `{"hmsProfiles": [...]}`."""
    site, day = _site(request), _gas_day(request)
    profiles = _sandbox(request).profiles_of(site.site_id, day)
    return JSON({"hmsProfiles": [profile.to_json() for profile in profiles]})


async def rebuilt_profile(request: Request) -> Response:
    """§14.4: the rebuilt program as it stands now."""
    site, day, sandbox = _site(request), _gas_day(request), _sandbox(request)
    rebuilt = sandbox.rebuilt(site, day, sandbox.clock.now())
    if rebuilt is None:
        raise ApiError(404, f"Aucun programme reconstruit pour {site.site_id} le {day}")
    return JSON(rebuilt.to_json())


async def declare(request: Request) -> Response:
    """§14.6: 201 and one link per program, or 400 and why (§2.6: all or nothing)."""
    sandbox = _sandbox(request)
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        problem = TechnicalProblem(Rejection.BAD_FORMAT, "hmsProfiles", detail="JSON invalide")
        return JSON(error_json([problem]), status_code=400)
    outcome = sandbox.declare(body, sandbox.clock.now())
    if outcome.rejected:
        return JSON(error_json(outcome.problems), status_code=400)
    base = str(request.base_url).rstrip("/") + BASE_PATH
    links = [
        {
            "rel": p.declared.hms_profile_id,
            "href": f"{base}/hmsProfiles/{p.declared.hms_profile_id}",
        }
        for p in outcome.stored
    ]
    return JSON({"links": links}, status_code=201)


# --- the guard every /sfm/v1 route goes through -----------------------------------------------

Endpoint = Callable[[Request], Awaitable[Response]]


def guarded(handler: Endpoint, issuer: Issuer) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        sandbox = _sandbox(request)
        client_id = issuer.authenticate(request.headers.get("authorization"))
        try:
            if client_id is None:
                raise ApiError(401, "Jeton d'accès absent, invalide ou expiré")
            allowed = sandbox.config.authorized_clients
            if allowed is not None and client_id not in allowed:
                raise ApiError(403, "Accès interdit à la ressource")
            if sandbox.faults.take("fail_next"):
                raise ApiError(500, "Erreur technique")
            return await handler(request)
        except ApiError as error:
            response = error.response()
            if error.status == 401:
                response.headers["WWW-Authenticate"] = "Bearer"
            return response
        except Exception:  # a sandbox bug must still answer §13.6's shape
            log.exception("SFM sandbox error on %s", request.url.path)
            return ApiError(500, "Erreur technique").response()

    return endpoint


# --- control routes -------------------------------------------------------------------------


async def control_clock(request: Request) -> Response:
    """GET: the sandbox instant; POST {"now": ISO datetime (naive is Paris) | null}."""
    clock = _sandbox(request).clock
    if request.method == "POST":
        try:
            text = orjson.loads(await request.body()).get("now")
            clock.set_now(_paris(datetime.fromisoformat(text)) if text else None)
        except (ValueError, AttributeError, TypeError) as error:
            return JSON({"error": str(error)}, status_code=400)
    return JSON({"now": clock.now().isoformat()})


def _paris(moment: datetime) -> datetime:
    return moment.replace(tzinfo=PARIS) if moment.tzinfo is None else moment


async def control_faults(request: Request) -> Response:
    faults = _sandbox(request).faults
    if request.method == "POST":
        try:
            faults.update(orjson.loads(await request.body()))
        except (ValueError, AttributeError) as error:
            return JSON({"error": str(error)}, status_code=400)
    return JSON(faults.to_json())


async def control_reset(request: Request) -> Response:
    _sandbox(request).reset()
    return JSON({"reset": True})


def build_sfm_app(config: SfmSandboxConfig | None, issuer: Issuer) -> Starlette:
    """The SFM sandbox; `app.state.sandbox` holds its data and clock for tests."""
    sandbox = SfmSandbox.from_config(config or SfmSandboxConfig())
    resources: list[tuple[str, Endpoint, str]] = [
        ("/sites/flexibilityIndicators", all_indicators, "GET"),
        ("/sites/{hmsSiteId}/flexibilityIndicators", site_indicators, "GET"),
        ("/hmsProfiles/{hmsProfileId}", one_profile, "GET"),
        ("/sites/{hmsSiteId}/hmsProfiles", site_profiles, "GET"),
        ("/sites/{hmsSiteId}/rebuiltHmsProfile", rebuilt_profile, "GET"),
        ("/hmsProfiles", declare, "POST"),
    ]
    routes = [
        Route(TOKEN_PATH, issuer.token_endpoint, methods=["POST"]),
        *(
            Route(BASE_PATH + path, guarded(handler, issuer), methods=[method])
            for path, handler, method in resources
        ),
        Route("/_sandbox/clock", control_clock, methods=["GET", "POST"]),
        Route("/_sandbox/faults", control_faults, methods=["GET", "POST"]),
        Route("/_sandbox/reset", control_reset, methods=["POST"]),
    ]
    app = Starlette(routes=routes)
    app.state.sandbox = sandbox
    return app
