"""The SFM sandbox's Azure AD: tokens for JWT client assertions signed by a certificate.

Checks what Azure AD checks in the flow of seed 001 §11.2 (assertion of §11.2.2, form
of §11.2.3): the `x5t` names a certificate registered for the client, the RS256
signature verifies with it, `aud` is this token endpoint, `iss` = `sub` = the client
id, `nbf`/`exp` frame now, the `jti` was never seen, and the scope is the API's
`api://{app}/.default`. Refusals follow RFC 6749 §5.2 with an `error_description`
saying which check failed, since that text is what a user sees in our AuthError.
"""

from __future__ import annotations

import base64
import binascii
import logging
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from starlette.requests import Request
from starlette.responses import JSONResponse

from sandbox.oauth import IssuedToken, TokenIssuer

log = logging.getLogger(__name__)

JWT_BEARER_ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TOKEN_PATH = "/oauth2/v2.0/token"
REQUIRED_CLAIMS = ("aud", "iss", "sub", "nbf", "exp", "jti")  # seed 001 §11.2.2
# Clock skew tolerated between the client's host and ours on nbf and exp.
DEFAULT_LEEWAY_SECONDS = 30


class Refusal(Exception):
    """One failed check: the HTTP status and RFC 6749 §5.2 error the endpoint answers."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.description = status, error, description

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


def invalid_client(description: str) -> Refusal:
    return Refusal(401, "invalid_client", description)


def thumbprint(certificate: x509.Certificate) -> bytes:
    """SHA-1 of the DER certificate: what `x5t` encodes."""
    return certificate.fingerprint(hashes.SHA1())


def decode_x5t(x5t: str) -> bytes | None:
    """The 20 thumbprint bytes from base64url (RFC 7515) or standard base64 (seed 001
    §11.2.2's example and openssl recipe), padded or not, as Azure AD accepts both."""
    text = x5t.strip().replace("+", "-").replace("/", "_")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


class AssertionTokenIssuer(TokenIssuer):
    """`TokenIssuer` for certificate-signed client assertions instead of secrets.

    `clients` maps a client id to its certificate, or to several while one is being
    renewed (§12.2). `audience` is the token URL assertions must name; None takes it
    from the request URL, handy when the sandbox's port is only known once it runs.
    """

    def __init__(
        self,
        clients: Mapping[str, x509.Certificate | Iterable[x509.Certificate]],
        scope: str,
        audience: str | None = None,
        ttl_seconds: int = 3600,
        leeway_seconds: float = DEFAULT_LEEWAY_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__({}, ttl_seconds)
        self.scope, self.audience = scope, audience
        self.leeway_seconds, self._clock = leeway_seconds, clock
        self._certificates: dict[str, dict[bytes, x509.Certificate]] = {}
        self._seen_jtis: dict[str, float] = {}  # jti -> its exp: forgotten once expired
        for client_id, certificates in clients.items():
            many = [certificates] if isinstance(certificates, x509.Certificate) else certificates
            for certificate in many:
                self.register(client_id, certificate)

    def register(self, client_id: str, certificate: x509.Certificate) -> None:
        """Accept one more certificate for a client (the new one sent a month ahead)."""
        with self._lock:
            self._certificates.setdefault(client_id, {})[thumbprint(certificate)] = certificate

    async def token_endpoint(self, request: Request) -> JSONResponse:
        """Starlette endpoint for `POST /oauth2/v2.0/token` (form-encoded, §11.2.3)."""
        fields = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        audience = self.audience or str(request.url.replace(query="", fragment=""))
        status, body = self.issue(fields, request.headers.get("authorization"), audience)
        return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})

    def issue(
        self,
        form: Mapping[str, str],
        authorization: str | None = None,
        audience: str | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """Answer a token request: (HTTP status, JSON body) as in RFC 6749 §5."""
        expected_audience = audience or self.audience
        if expected_audience is None:
            raise ValueError("AssertionTokenIssuer needs the audience: its own token URL")
        try:
            client_id = self._authenticate_client(form, expected_audience)
            self._check_scope(form.get("scope", ""))
        except Refusal as refusal:
            log.info("token refused: %s", refusal.description)
            return refusal.status, refusal.body()
        return 200, self._mint(client_id, form["scope"])

    def _authenticate_client(self, form: Mapping[str, str], audience: str) -> str:
        """The client id proven by the form's assertion, or a Refusal saying what failed."""
        if form.get("grant_type") != "client_credentials":
            raise Refusal(400, "unsupported_grant_type", "grant_type must be client_credentials")
        if form.get("client_assertion_type") != JWT_BEARER_ASSERTION:
            raise Refusal(
                400, "invalid_request", f"client_assertion_type must be {JWT_BEARER_ASSERTION}"
            )
        assertion = form.get("client_assertion", "")
        header = _unverified_header(assertion)
        client_id = form.get("client_id") or _unverified_claims(assertion).get("iss", "")
        certificate = self._certificate_for(client_id, header)
        claims = _verified_claims(assertion, certificate, client_id)
        _check_identity(claims, client_id)
        _check_audience(claims, audience)
        self._check_times(claims)
        self._remember_jti(claims)
        return client_id

    def _certificate_for(self, client_id: str, header: Mapping[str, Any]) -> x509.Certificate:
        with self._lock:
            registered = dict(self._certificates.get(client_id, {}))
        if not registered:
            raise Refusal(400, "unauthorized_client", f"client id {client_id!r} is not registered")
        x5t = header.get("x5t")
        if not isinstance(x5t, str):
            raise invalid_client("client assertion header has no x5t (certificate thumbprint)")
        certificate = registered.get(decode_x5t(x5t) or b"")
        if certificate is None:
            raise invalid_client(
                f"client assertion x5t {x5t!r} is not the thumbprint of a certificate "
                f"registered for client {client_id!r}"
            )
        return certificate

    def _check_times(self, claims: Mapping[str, Any]) -> None:
        now = self._clock()
        if claims["exp"] <= now - self.leeway_seconds:
            raise invalid_client(
                f"client assertion expired at {_utc(claims['exp'])} (now {_utc(now)})"
            )
        if claims["nbf"] > now + self.leeway_seconds:
            raise invalid_client(
                f"client assertion is not valid before {_utc(claims['nbf'])} (now {_utc(now)})"
            )

    def _remember_jti(self, claims: Mapping[str, Any]) -> None:
        jti = claims["jti"]
        with self._lock:
            self._forget_expired_jtis()
            if jti in self._seen_jtis:
                raise invalid_client(
                    f"client assertion jti {jti!r} was already used: sign a new one per request"
                )
            self._seen_jtis[jti] = float(claims["exp"])

    def _forget_expired_jtis(self) -> None:
        # An expired assertion is refused on its exp anyway: no need to remember its jti.
        horizon = self._clock() - self.leeway_seconds
        for jti in [jti for jti, exp in self._seen_jtis.items() if exp < horizon]:
            del self._seen_jtis[jti]

    def _check_scope(self, scope: str) -> None:
        if scope != self.scope:
            raise Refusal(400, "invalid_scope", f"scope {scope!r} is not {self.scope!r}")

    def _mint(self, client_id: str, scope: str) -> dict[str, Any]:
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._drop_expired()
            self._tokens[token] = IssuedToken(client_id, scope, time.monotonic() + self.ttl_seconds)
            self.issued += 1
        return {"token_type": "Bearer", "expires_in": self.ttl_seconds, "access_token": token}


def _unverified_header(assertion: str) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.DecodeError:
        raise invalid_client("client_assertion is missing or is not a JWT") from None
    if header.get("alg") != "RS256":
        raise invalid_client(f"client assertion alg {header.get('alg')!r} is not RS256")
    return header


def _unverified_claims(assertion: str) -> dict[str, Any]:
    try:
        return jwt.decode(assertion, options={"verify_signature": False})
    except jwt.DecodeError:
        raise invalid_client("client assertion payload is not JSON") from None


def _verified_claims(
    assertion: str, certificate: x509.Certificate, client_id: str
) -> dict[str, Any]:
    # Only the signature and the presence of claims here: the other checks come after,
    # each with its own message quoting the values received.
    options: Any = {
        "verify_signature": True,
        **dict.fromkeys(("verify_exp", "verify_nbf", "verify_iat", "verify_aud"), False),
        **dict.fromkeys(("verify_iss", "verify_sub", "verify_jti"), False),
        "require": list(REQUIRED_CLAIMS),
    }
    try:
        claims = jwt.decode(
            assertion, certificate.public_key(), algorithms=["RS256"], options=options
        )
    except jwt.InvalidSignatureError:
        raise invalid_client(
            "client assertion signature does not verify with the certificate registered "
            f"for client {client_id!r}"
        ) from None
    except jwt.MissingRequiredClaimError as exc:
        raise invalid_client(f"client assertion lacks the {exc.claim!r} claim") from None
    except jwt.InvalidTokenError as exc:
        raise invalid_client(f"client assertion unreadable: {exc}") from None
    for name in ("nbf", "exp"):
        if not isinstance(claims[name], int | float):
            raise invalid_client(f"client assertion {name} must be a number of seconds")
    if not isinstance(claims["jti"], str):
        raise invalid_client("client assertion jti must be a string (a fresh GUID)")
    return claims


def _check_identity(claims: Mapping[str, Any], client_id: str) -> None:
    if claims["iss"] != client_id or claims["sub"] != client_id:
        raise invalid_client(
            f"client assertion iss {claims['iss']!r} and sub {claims['sub']!r} must both be "
            f"the client id {client_id!r}"
        )


def _check_audience(claims: Mapping[str, Any], audience: str) -> None:
    if claims["aud"] != audience:
        raise invalid_client(
            f"client assertion audience {claims['aud']!r} is not this token endpoint {audience!r}"
        )


def _utc(timestamp: float) -> str:
    return f"{datetime.fromtimestamp(timestamp, UTC):%Y-%m-%d %H:%M:%S}Z"
