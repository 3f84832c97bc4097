"""SFM's client assertion (seed 001 §11.2.2) and the sandbox's checks, without HTTP."""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from resources.sfm_auth import (
    CertificateAssertion,
    CertificateError,
    expiry_warning,
    load_certificate,
    sfm_scope,
    x5t_thumbprint,
)
from sandbox.certificates import CertificatePair, not_yet_valid, self_signed, valid_for
from sandbox.sfm_auth import JWT_BEARER_ASSERTION, AssertionTokenIssuer, decode_x5t

CLIENT_ID = "ae804739-1de9-4f6b-b516-79fac087bfb1"  # the shape of seed 001 §11.2.2's example
TOKEN_URL = "https://login.example.test/offre-stg.grtgaz.com/oauth2/v2.0/token"
SCOPE = sfm_scope("RIO-DSG-MAMBA")


def key_text(pair: CertificatePair) -> str:
    """A distinctive slice of the PEM key body: must never show up anywhere."""
    return pair.key_pem().decode().splitlines()[5]


def assertion_for(pair: CertificatePair, **options: Any) -> CertificateAssertion:
    return CertificateAssertion(pair.certificate, pair.key, CLIENT_ID, TOKEN_URL, **options)


def token_form(assertion: str, **overrides: str) -> dict[str, str]:
    form = {
        "grant_type": "client_credentials",
        "client_id": CLIENT_ID,
        "scope": SCOPE,
        "client_assertion_type": JWT_BEARER_ASSERTION,
        "client_assertion": assertion,
    }
    return form | overrides


def issuer_for(pair: CertificatePair) -> AssertionTokenIssuer:
    return AssertionTokenIssuer({CLIENT_ID: pair.certificate}, SCOPE, audience=TOKEN_URL)


def test_the_assertion_has_the_header_and_claims_of_section_11_2_2() -> None:
    pair = valid_for(365)
    token = assertion_for(pair, lifetime_seconds=240)()
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(
        token, pair.certificate.public_key(), algorithms=["RS256"], audience=TOKEN_URL
    )
    assert header == {"typ": "JWT", "alg": "RS256", "x5t": x5t_thumbprint(pair.certificate)}
    assert claims["iss"] == claims["sub"] == CLIENT_ID
    assert claims["exp"] - claims["nbf"] == 240
    assert abs(claims["nbf"] - time.time()) < 5
    assert uuid.UUID(claims["jti"]).version == 4


def test_each_call_signs_a_new_jti() -> None:
    assertion = assertion_for(valid_for(365))
    jtis = {jwt.decode(assertion(), options={"verify_signature": False})["jti"] for _ in range(3)}
    assert len(jtis) == 3


def test_x5t_is_the_base64url_sha1_of_the_der_certificate() -> None:
    certificate = valid_for(365).certificate
    der = certificate.public_bytes(serialization.Encoding.DER)
    # Seed 001 §11.2.2's openssl recipe: the same 20 bytes, in standard base64.
    seed_form = base64.b64encode(hashlib.sha1(der).digest()).decode()
    x5t = x5t_thumbprint(certificate)
    assert len(x5t) == 28 and "+" not in x5t and "/" not in x5t
    assert decode_x5t(x5t) == decode_x5t(seed_form) == hashlib.sha1(der).digest()
    assert decode_x5t(x5t.rstrip("=")) == hashlib.sha1(der).digest()


def test_a_key_of_another_certificate_is_refused_at_construction() -> None:
    pair, other = valid_for(365), valid_for(365, key_name="other")
    with pytest.raises(CertificateError, match="private key does not belong") as error:
        CertificateAssertion(pair.certificate, other.key, CLIENT_ID, TOKEN_URL)
    assert key_text(other) not in str(error.value)


@pytest.mark.parametrize(
    ("pair", "reason"),
    [
        (lambda: valid_for(-2), "expired on"),
        (lambda: not_yet_valid(days=3), "not valid before"),
    ],
    ids=["expired", "not-yet-valid"],
)
def test_a_certificate_outside_its_validity_is_refused_at_construction(
    pair: Any, reason: str
) -> None:
    with pytest.raises(CertificateError, match=reason):
        assertion_for(pair())


def test_a_certificate_that_expires_during_a_run_stops_signing() -> None:
    pair = valid_for(1)
    later = [time.time()]
    assertion = assertion_for(pair, clock=lambda: later[0])
    later[0] += 2 * 86400
    with pytest.raises(CertificateError, match="expired on"):
        assertion()


def test_files_load_and_unreadable_ones_say_which_file(tmp_path: Path) -> None:
    pair = valid_for(365)
    cert_file, key_file = pair.write(tmp_path)
    assert CertificateAssertion.from_files(cert_file, key_file, CLIENT_ID, TOKEN_URL)()
    garbage = tmp_path / "garbage.pem"
    garbage.write_text(
        "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n"
    )
    cases = [
        (tmp_path / "missing.crt", key_file, "cannot read SFM certificate file .*missing.crt"),
        (garbage, key_file, "garbage.pem is not an X.509 certificate"),
        (cert_file, garbage, "garbage.pem is not a readable PEM private key"),
        (cert_file, cert_file, "sfm.crt is not a readable PEM private key"),
    ]
    for cert, key, message in cases:
        with pytest.raises(CertificateError, match=message):
            CertificateAssertion.from_files(cert, key, CLIENT_ID, TOKEN_URL)


def test_a_der_certificate_is_accepted_as_section_12_2_admits_cer(tmp_path: Path) -> None:
    pair = valid_for(365)
    der = tmp_path / "sfm.cer"
    der.write_bytes(pair.certificate.public_bytes(serialization.Encoding.DER))
    assert load_certificate(der) == pair.certificate


def test_an_encrypted_key_needs_its_password_and_a_non_rsa_key_is_refused(
    tmp_path: Path,
) -> None:
    pair = valid_for(365)
    cert_file, _ = pair.write(tmp_path)
    encrypted = tmp_path / "encrypted.key"
    encrypted.write_bytes(
        pair.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"hunter2-pw"),
        )
    )
    with pytest.raises(CertificateError, match="is encrypted: give its password"):
        CertificateAssertion.from_files(cert_file, encrypted, CLIENT_ID, TOKEN_URL)
    assert CertificateAssertion.from_files(
        cert_file, encrypted, CLIENT_ID, TOKEN_URL, key_password="hunter2-pw"
    )()
    ec_key = tmp_path / "ec.key"
    ec_key.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(CertificateError, match="not an RSA key"):
        CertificateAssertion.from_files(cert_file, ec_key, CLIENT_ID, TOKEN_URL)


def test_the_renewal_warning_starts_30_days_before_expiry() -> None:
    not_after = datetime(2026, 7, 1, 12, tzinfo=UTC)
    assert expiry_warning(not_after, not_after - timedelta(days=31)) is None
    assert expiry_warning(not_after, not_after - timedelta(days=30, seconds=1)) is None
    warning = expiry_warning(not_after, not_after - timedelta(days=30))
    assert warning is not None
    assert "2026-07-01 12:00 UTC" in warning and "30 days left" in warning
    assert "§12.2" in warning
    assert "expired" in str(expiry_warning(not_after, not_after + timedelta(hours=1)))


def test_a_certificate_expiring_in_10_days_warns_and_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level("WARNING", logger="resources.sfm_auth"):
        assertion = assertion_for(valid_for(10))
    assert assertion.days_left() == 10
    assert "10 days left" in str(assertion.expiry_warning())
    assert "send GRTgaz a new one" in caplog.text
    assert assertion_for(valid_for(365)).expiry_warning() is None


def test_reprs_and_logs_hold_no_key_material(caplog: pytest.LogCaptureFixture) -> None:
    pair = valid_for(10)
    with caplog.at_level("DEBUG"):
        assertion = assertion_for(pair)
        assertion()
    for text in (repr(assertion), str(assertion), repr(pair), caplog.text):
        assert key_text(pair) not in text
        assert "PRIVATE" not in text
    assert CLIENT_ID in repr(assertion) and assertion.x5t in repr(assertion)


def test_self_signed_certificates_are_reproducible() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    first = self_signed(valid_from=start, valid_until=start + timedelta(days=90))
    again = self_signed(valid_from=start, valid_until=start + timedelta(days=90))
    assert first.certificate == again.certificate
    assert first.certificate.not_valid_after_utc == start + timedelta(days=90)


# The sandbox's checks, called directly: the integration tests go through HTTP.


def test_the_sandbox_accepts_the_seeds_standard_base64_x5t() -> None:
    pair = valid_for(365)
    assertion = assertion_for(pair)
    seed_x5t = base64.b64encode(decode_x5t(assertion.x5t) or b"").decode()
    token = jwt.encode(
        assertion.claims(), pair.key, "RS256", headers=assertion.headers | {"x5t": seed_x5t}
    )
    status, body = issuer_for(pair).issue(token_form(token))
    assert status == 200 and body["expires_in"] == 3600


@pytest.mark.parametrize(
    ("overrides", "status", "error", "description"),
    [
        ({"grant_type": "password"}, 400, "unsupported_grant_type", "client_credentials"),
        ({"client_assertion_type": "jwt"}, 400, "invalid_request", "client_assertion_type"),
        ({"client_assertion": "not-a-jwt"}, 401, "invalid_client", "not a JWT"),
        ({"client_id": "someone-else"}, 400, "unauthorized_client", "not registered"),
        ({"scope": "api://other/.default"}, 400, "invalid_scope", SCOPE),
    ],
    ids=["grant", "assertion-type", "not-jwt", "unknown-client", "scope"],
)
def test_the_sandbox_refuses_malformed_requests(
    overrides: dict[str, str], status: int, error: str, description: str
) -> None:
    pair = valid_for(365)
    answer = issuer_for(pair).issue(token_form(assertion_for(pair)(), **overrides))
    assert answer[0] == status
    assert answer[1]["error"] == error and description in answer[1]["error_description"]


def test_the_sandbox_refuses_other_algorithms_and_a_mismatched_subject() -> None:
    pair = valid_for(365)
    assertion, issuer = assertion_for(pair), issuer_for(pair)
    hs256 = jwt.encode(assertion.claims(), "k" * 32, "HS256", headers={"x5t": assertion.x5t})
    assert "alg 'HS256' is not RS256" in issuer.issue(token_form(hs256))[1]["error_description"]
    forged = jwt.encode(
        assertion.claims() | {"sub": "x"}, pair.key, "RS256", headers=assertion.headers
    )
    assert "must both be the client id" in issuer.issue(token_form(forged))[1]["error_description"]
    unsigned = jwt.encode(
        {k: v for k, v in assertion.claims().items() if k != "jti"},
        pair.key,
        "RS256",
        headers=assertion.headers,
    )
    assert "lacks the 'jti' claim" in issuer.issue(token_form(unsigned))[1]["error_description"]


def test_the_sandbox_takes_a_renewed_certificate_alongside_the_old_one() -> None:
    old, new = valid_for(10), valid_for(400, common_name="renewed", key_name="other")
    issuer = AssertionTokenIssuer({CLIENT_ID: [old.certificate]}, SCOPE, audience=TOKEN_URL)
    issuer.register(CLIENT_ID, new.certificate)
    for pair in (old, new):
        assert issuer.issue(token_form(assertion_for(pair)()))[0] == 200
    assert issuer.issued == 2


def test_the_sandbox_forgets_used_jtis_once_they_expire() -> None:
    pair = valid_for(365)
    now = [time.time()]
    issuer = AssertionTokenIssuer(
        {CLIENT_ID: pair.certificate}, SCOPE, audience=TOKEN_URL, clock=lambda: now[0]
    )
    for _ in range(3):
        assert issuer.issue(token_form(assertion_for(pair)()))[0] == 200
    now[0] += 3600
    assert issuer.issue(token_form(assertion_for(pair, clock=lambda: now[0])()))[0] == 200
    assert len(issuer._seen_jtis) == 1
