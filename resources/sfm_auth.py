"""GRTgaz SFM's certificate login: the signed JWT client assertion of seed 001 §11.2.

SFM has no client secret. Each token request carries a JWT signed (RS256) with the
private key of a certificate we sent GRTgaz beforehand (§12.2); Azure AD checks it
against that certificate and answers a one-hour bearer token (§11.2.3). This module
builds those assertions; `resources.http.ClientCredentials` posts them and caches the
token. Key material never appears in a repr, a log line or an error message.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import math
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from resources.http import ClientCredentials

log = logging.getLogger(__name__)

# Seed 001 §11.2: Azure AD tenants of GRTgaz's two environments.
SFM_TOKEN_URL_PROD = "https://login.microsoftonline.com/offre.grtgaz.com/oauth2/v2.0/token"
SFM_TOKEN_URL_TEST = "https://login.microsoftonline.com/offre-stg.grtgaz.com/oauth2/v2.0/token"
# Short-lived on purpose: an assertion is used once, within a second of being signed.
ASSERTION_LIFETIME_SECONDS = 300
# Seed 001 §12.2: a new certificate goes to GRTgaz one month before the old one expires.
RENEWAL_NOTICE = timedelta(days=30)


class CertificateError(ValueError):
    """The SFM certificate or key cannot be used; says which file and why, never the key."""


def sfm_scope(target_app_id: str) -> str:
    """The `scope` form field of §11.2.3: `api://{ID-app-cible}/.default`."""
    return f"api://{target_app_id}/.default"


def x5t_thumbprint(certificate: x509.Certificate) -> str:
    """The `x5t` header: base64url of the SHA-1 of the DER certificate (RFC 7515 §4.1.7).

    Seed 001 §11.2.2 shows the same 20 bytes in standard base64 ("base 64
    hexadécimale"); Azure AD reads both. We send base64url with padding, as Microsoft's
    own MSAL does.
    """
    digest = hashlib.sha1(certificate.public_bytes(serialization.Encoding.DER)).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii")


def expiry_warning(not_after: datetime, now: datetime) -> str | None:
    """A warning from 30 days before `not_after` (seed 001 §12.2), else None."""
    if not_after - now > RENEWAL_NOTICE:
        return None
    if not_after <= now:
        return f"the SFM certificate expired on {not_after:%Y-%m-%d %H:%M} UTC"
    return (
        f"the SFM certificate expires on {not_after:%Y-%m-%d %H:%M} UTC "
        f"({days_until(not_after, now)} days left): send GRTgaz a new one now "
        "(seed 001 §12.2 asks for it one month ahead)"
    )


def days_until(moment: datetime, now: datetime) -> int:
    """Days left, counting a started day as one: 30 exactly when the warning starts."""
    return math.ceil((moment - now) / timedelta(days=1))


class CertificateAssertion:
    """Makes a fresh signed client assertion (seed 001 §11.2.2) on each call.

    Checked at construction: the key is RSA and belongs to the certificate, and the
    certificate is valid now. Pass it as `ClientCredentials(assertion=...)`.
    """

    def __init__(
        self,
        certificate: x509.Certificate,
        private_key: rsa.RSAPrivateKey,
        client_id: str,
        token_url: str,
        lifetime_seconds: int = ASSERTION_LIFETIME_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client_id, self.audience = client_id, token_url
        self.lifetime_seconds = lifetime_seconds
        self._certificate, self._key, self._clock = certificate, private_key, clock
        self.x5t = x5t_thumbprint(certificate)
        _check_key_matches(certificate, private_key)
        self._check_valid_now()
        warning = self.expiry_warning()
        if warning:
            log.warning("%s (thumbprint %s)", warning, self.x5t)

    @classmethod
    def from_files(
        cls,
        cert_file: str | Path,
        key_file: str | Path,
        client_id: str,
        token_url: str,
        key_password: str | None = None,
        **options: Any,
    ) -> CertificateAssertion:
        """From the PEM files of `SFM_CERT_FILE` and `SFM_KEY_FILE` (DER accepted for the
        certificate: §12.2 admits .pem, .crt and .cer)."""
        certificate = load_certificate(cert_file)
        key = load_private_key(key_file, key_password)
        return cls(certificate, key, client_id, token_url, **options)

    @property
    def headers(self) -> dict[str, str]:
        return {"typ": "JWT", "alg": "RS256", "x5t": self.x5t}

    @property
    def not_after(self) -> datetime:
        return self._certificate.not_valid_after_utc

    @property
    def not_before(self) -> datetime:
        return self._certificate.not_valid_before_utc

    def claims(self) -> dict[str, Any]:
        """The payload of §11.2.2; `jti` is new each time so Azure never sees a replay."""
        now = int(self._clock())
        return {
            "aud": self.audience,
            "iss": self.client_id,
            "sub": self.client_id,
            "nbf": now,
            "exp": now + self.lifetime_seconds,
            "jti": str(uuid.uuid4()),
        }

    def __call__(self) -> str:
        # A run can outlive the certificate: fail with the reason, not with Azure's 401.
        self._check_valid_now()
        return jwt.encode(self.claims(), self._key, algorithm="RS256", headers=self.headers)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    def days_left(self, now: datetime | None = None) -> int:
        """Days until the certificate expires, a started day counting as one (0 or less
        once expired)."""
        return days_until(self.not_after, now or self.now())

    def expiry_warning(self, now: datetime | None = None) -> str | None:
        return expiry_warning(self.not_after, now or self.now())

    def _check_valid_now(self) -> None:
        now = self.now()
        if now >= self.not_after:
            raise CertificateError(
                f"SFM certificate {self.x5t} expired on {self.not_after:%Y-%m-%d %H:%M} UTC: "
                "generate a new one and send it to GRTgaz (seed 001 §12.2)"
            )
        if now < self.not_before:
            raise CertificateError(
                f"SFM certificate {self.x5t} is not valid before "
                f"{self.not_before:%Y-%m-%d %H:%M} UTC (check the host's clock)"
            )

    def __repr__(self) -> str:
        return (
            f"CertificateAssertion(client_id={self.client_id!r}, audience={self.audience!r}, "
            f"x5t={self.x5t!r}, not_after={self.not_after.isoformat()!r})"
        )


def sfm_client_credentials(
    http: httpx.Client,
    token_url: str,
    client_id: str,
    target_app_id: str,
    cert_file: str | Path,
    key_file: str | Path,
    key_password: str | None = None,
) -> ClientCredentials:
    """SFM's OAuth login (§11.2.3), ready for an `ApiCaller`; fails early on a bad cert."""
    assertion = CertificateAssertion.from_files(
        cert_file, key_file, client_id, token_url, key_password
    )
    return ClientCredentials(
        http, token_url, client_id, scope=sfm_scope(target_app_id), assertion=assertion
    )


def load_certificate(path: str | Path) -> x509.Certificate:
    data = _read(path, "certificate")
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError:
        raise CertificateError(f"{path} is not an X.509 certificate (PEM or DER)") from None


def load_private_key(path: str | Path, password: str | None = None) -> rsa.RSAPrivateKey:
    data = _read(path, "private key")
    secret = password.encode() if password else None
    # `from None` everywhere: the parser's own exception could quote what it read.
    try:
        key = serialization.load_pem_private_key(data, password=secret)
    except TypeError:
        state = "is encrypted: give its password" if secret is None else "is not encrypted"
        raise CertificateError(f"private key file {path} {state}") from None
    except ValueError:
        raise CertificateError(
            f"private key file {path} is not a readable PEM private key (or wrong password)"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CertificateError(f"private key file {path} is not an RSA key (RS256 needs one)")
    return key


def _read(path: str | Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise CertificateError(f"cannot read SFM {what} file {path}: {exc.strerror}") from None


def _check_key_matches(certificate: x509.Certificate, key: rsa.RSAPrivateKey) -> None:
    public = certificate.public_key()
    if not isinstance(public, rsa.RSAPublicKey):
        raise CertificateError("the SFM certificate is not an RSA certificate (seed 001 §12.2)")
    if public.public_numbers() != key.public_key().public_numbers():
        raise CertificateError(
            f"the private key does not belong to the SFM certificate {x5t_thumbprint(certificate)}"
        )
