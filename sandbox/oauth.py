"""OAuth2 client-credentials token endpoint, reusable by every sandbox.

GRDF's ADICT posts the credentials as form fields; GRTgaz's Ingrid sends them as an
HTTP Basic header. The issuer accepts either, as real authorization servers do.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IssuedToken:
    client_id: str
    scope: str
    expires_at: float  # time.monotonic(): immune to wall-clock jumps


class TokenIssuer:
    """Issues opaque bearer tokens to known clients and checks them on resource calls."""

    def __init__(self, clients: Mapping[str, str], ttl_seconds: int) -> None:
        self._clients = dict(clients)
        self.ttl_seconds = ttl_seconds
        self._tokens: dict[str, IssuedToken] = {}
        self._lock = threading.Lock()
        self.issued = 0  # tokens handed out, for tests of renewal

    async def token_endpoint(self, request: Request) -> JSONResponse:
        """Starlette endpoint for `POST .../oauth2/token` (form-encoded body)."""
        # RFC 6749 only allows x-www-form-urlencoded: no need for a multipart parser.
        fields = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        status, body = self.issue(fields, request.headers.get("authorization"))
        return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})

    def issue(
        self, form: Mapping[str, str], authorization: str | None
    ) -> tuple[int, dict[str, Any]]:
        """Answer a token request: (HTTP status, JSON body) as in RFC 6749 section 5."""
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}
        client_id, secret = _basic_credentials(authorization) or (
            form.get("client_id", ""),
            form.get("client_secret", ""),
        )
        if not self._secret_matches(client_id, secret):
            log.info("token refused for client %r", client_id)
            return 401, {"error": "invalid_client"}
        token = secrets.token_urlsafe(32)
        scope = form.get("scope", "")
        with self._lock:
            self._drop_expired()
            self._tokens[token] = IssuedToken(client_id, scope, time.monotonic() + self.ttl_seconds)
            self.issued += 1
        return 200, {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": self.ttl_seconds,
            "scope": scope,
        }

    def authenticate(self, authorization_header: str | None) -> str | None:
        """The client id behind a `Bearer` header, or None if unknown or expired."""
        scheme, _, token = (authorization_header or "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        with self._lock:
            issued = self._tokens.get(token.strip())
        if issued is None or issued.expires_at <= time.monotonic():
            return None
        return issued.client_id

    def revoke_all(self) -> None:
        """Forget every token, as an upstream restart or revocation would: next calls get 401."""
        with self._lock:
            self._tokens.clear()

    def _secret_matches(self, client_id: str, secret: str) -> bool:
        expected = self._clients.get(client_id)
        return expected is not None and hmac.compare_digest(expected.encode(), secret.encode())

    def _drop_expired(self) -> None:
        now = time.monotonic()
        for token in [t for t, issued in self._tokens.items() if issued.expires_at <= now]:
            del self._tokens[token]


def _basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        client_id, _, secret = base64.b64decode(encoded.strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return client_id, secret
