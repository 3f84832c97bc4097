"""SFM's certificate login over real HTTP: our ClientCredentials and assertion against the
sandbox's Azure AD (seed 001 §11.2), good and bad certificates and assertions."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from resources.http import AuthError, ClientCredentials
from resources.sfm_auth import (
    CertificateAssertion,
    CertificateError,
    sfm_client_credentials,
    sfm_scope,
)
from sandbox.certificates import CertificatePair, valid_for
from sandbox.server import SandboxServer
from sandbox.sfm_auth import TOKEN_PATH, AssertionTokenIssuer

CLIENT_ID = "ae804739-1de9-4f6b-b516-79fac087bfb1"
TARGET_APP = "RIO-DSG-MAMBA"
RESOURCE_PATH = "/sfm/v1/sites/flexibilityIndicators"
AZURE_TOKEN_URL = "https://login.microsoftonline.com/offre-stg.grtgaz.com/oauth2/v2.0/token"


@dataclass
class SfmAuthSandbox:
    """A running token endpoint plus one protected route, and the certificate it knows."""

    server: SandboxServer
    issuer: AssertionTokenIssuer
    pair: CertificatePair
    http: httpx.Client

    @property
    def token_url(self) -> str:
        return self.server.base_url + TOKEN_PATH

    def assertion(
        self, pair: CertificatePair | None = None, **options: Any
    ) -> CertificateAssertion:
        """Signed for this sandbox's token URL, with its registered certificate by default."""
        pair = pair or self.pair
        return CertificateAssertion(
            pair.certificate, pair.key, CLIENT_ID, self.token_url, **options
        )

    def credentials(self, assertion: Callable[[], str]) -> ClientCredentials:
        return ClientCredentials(
            self.http, self.token_url, CLIENT_ID, scope=sfm_scope(TARGET_APP), assertion=assertion
        )

    def get_resource(self, token: str) -> httpx.Response:
        return self.http.get(
            self.server.base_url + RESOURCE_PATH, headers={"Authorization": f"Bearer {token}"}
        )


def build_app(issuer: AssertionTokenIssuer) -> Starlette:
    async def flexibility_indicators(request: Request) -> JSONResponse:
        client_id = issuer.authenticate(request.headers.get("authorization"))
        if client_id is None:
            return JSONResponse({"code": "401", "message": "invalid token"}, status_code=401)
        return JSONResponse({"client": client_id, "siteIndicators": []})

    return Starlette(
        routes=[
            Route(TOKEN_PATH, issuer.token_endpoint, methods=["POST"]),
            Route(RESOURCE_PATH, flexibility_indicators),
        ]
    )


@pytest.fixture
def sfm_auth() -> Iterator[Callable[..., SfmAuthSandbox]]:
    """Start the sandbox: `sfm_auth(ttl_seconds=1)`; its certificate expires in a year."""
    started: list[tuple[SandboxServer, httpx.Client]] = []

    def start(ttl_seconds: int = 3600) -> SfmAuthSandbox:
        pair = valid_for(365)
        issuer = AssertionTokenIssuer(
            {CLIENT_ID: pair.certificate}, sfm_scope(TARGET_APP), ttl_seconds=ttl_seconds
        )
        server = SandboxServer(build_app(issuer)).start()
        http = httpx.Client(timeout=10.0)
        started.append((server, http))
        return SfmAuthSandbox(server, issuer, pair, http)

    yield start
    for server, http in started:
        http.close()
        server.stop()


def refusal(sandbox: SfmAuthSandbox, assertion: Callable[[], str]) -> str:
    """The AuthError message a user would see for this assertion."""
    with pytest.raises(AuthError) as error:
        sandbox.credentials(assertion).token()
    return str(error.value)


def test_a_good_certificate_gets_a_token_once_and_reaches_the_api(
    sfm_auth: Callable[..., SfmAuthSandbox], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox = sfm_auth()
    cert_file, key_file = sandbox.pair.write(tmp_path)
    monkeypatch.setenv("SFM_CERT_FILE", str(cert_file))
    monkeypatch.setenv("SFM_KEY_FILE", str(key_file))
    # What pipelines/definitions.py binds: the two paths come from the environment.
    credentials = sfm_client_credentials(
        sandbox.http,
        sandbox.token_url,
        CLIENT_ID,
        TARGET_APP,
        cert_file=os.environ["SFM_CERT_FILE"],
        key_file=os.environ["SFM_KEY_FILE"],
    )
    token = credentials.token()
    assert credentials.token() == token  # cached: no second request
    assert sandbox.issuer.issued == 1
    answer = sandbox.get_resource(token)
    assert answer.status_code == 200 and answer.json()["client"] == CLIENT_ID


def test_a_short_lived_token_is_renewed_with_a_fresh_assertion(
    sfm_auth: Callable[..., SfmAuthSandbox],
) -> None:
    sandbox = sfm_auth(ttl_seconds=1)
    credentials = sandbox.credentials(sandbox.assertion())
    first = credentials.token()
    time.sleep(1.0)
    second = credentials.token()  # a reused jti would be refused here
    assert second != first and sandbox.issuer.issued == 2
    assert sandbox.get_resource(second).status_code == 200


def test_a_revoked_token_is_refused_by_the_api(sfm_auth: Callable[..., SfmAuthSandbox]) -> None:
    sandbox = sfm_auth()
    token = sandbox.credentials(sandbox.assertion()).token()
    sandbox.issuer.revoke_all()
    assert sandbox.get_resource(token).status_code == 401


def test_a_key_of_another_certificate_fails_before_any_request(
    sfm_auth: Callable[..., SfmAuthSandbox], tmp_path: Path
) -> None:
    sandbox = sfm_auth()
    cert_file, _ = sandbox.pair.write(tmp_path, "ours")
    _, other_key = valid_for(365, key_name="other").write(tmp_path, "other")
    with pytest.raises(CertificateError, match="private key does not belong") as error:
        sfm_client_credentials(
            sandbox.http, sandbox.token_url, CLIENT_ID, TARGET_APP, cert_file, other_key
        )
    assert other_key.read_text().splitlines()[5] not in str(error.value)
    assert sandbox.issuer.issued == 0


def test_an_expired_certificate_fails_before_any_request(
    sfm_auth: Callable[..., SfmAuthSandbox], tmp_path: Path
) -> None:
    sandbox = sfm_auth()
    cert_file, key_file = valid_for(-1).write(tmp_path)
    with pytest.raises(CertificateError, match=r"expired on .* send it to GRTgaz"):
        sfm_client_credentials(
            sandbox.http, sandbox.token_url, CLIENT_ID, TARGET_APP, cert_file, key_file
        )


def test_a_certificate_unknown_to_grtgaz_is_refused(
    sfm_auth: Callable[..., SfmAuthSandbox],
) -> None:
    sandbox = sfm_auth()
    stranger = valid_for(365, common_name="not-sent-to-grtgaz", key_name="other")
    message = refusal(sandbox, sandbox.assertion(stranger))
    assert "HTTP 401" in message and "invalid_client" in message
    assert (
        f"x5t '{sandbox.assertion(stranger).x5t}' is not the thumbprint of a certificate registered for client '{CLIENT_ID}'"
        in message
    )
    assert stranger.key_pem().decode().splitlines()[5] not in message


def test_a_wrong_audience_names_both_urls(sfm_auth: Callable[..., SfmAuthSandbox]) -> None:
    # Signed for Azure's URL but posted to ours: the mistake of a mixed-up environment.
    sandbox = sfm_auth()
    pair = sandbox.pair
    assertion = CertificateAssertion(pair.certificate, pair.key, CLIENT_ID, AZURE_TOKEN_URL)
    message = refusal(sandbox, assertion)
    assert f"refused client id '{CLIENT_ID}': HTTP 401" in message
    assert (
        f"audience '{AZURE_TOKEN_URL}' is not this token endpoint '{sandbox.token_url}'" in message
    )


@pytest.mark.parametrize(
    ("shift", "reason"),
    [(-3600, "client assertion expired at"), (3600, "client assertion is not valid before")],
    ids=["expired", "not-yet-valid"],
)
def test_an_assertion_outside_its_time_window_is_refused(
    sfm_auth: Callable[..., SfmAuthSandbox], shift: int, reason: str
) -> None:
    sandbox = sfm_auth()
    message = refusal(sandbox, sandbox.assertion(clock=lambda: time.time() + shift))
    assert "HTTP 401" in message and reason in message


def test_a_replayed_assertion_is_refused(sfm_auth: Callable[..., SfmAuthSandbox]) -> None:
    sandbox = sfm_auth()
    signed_once = sandbox.assertion()()
    credentials = sandbox.credentials(lambda: signed_once)
    credentials.token()
    credentials.invalidate()
    with pytest.raises(AuthError, match=r"jti '.*' was already used"):
        credentials.token()
    assert sandbox.issuer.issued == 1


def test_a_wrong_x5t_is_refused(sfm_auth: Callable[..., SfmAuthSandbox]) -> None:
    # Right key, but the header names another certificate's thumbprint.
    sandbox = sfm_auth()
    good, other_x5t = sandbox.assertion(), sandbox.assertion(valid_for(30, key_name="other")).x5t

    def mislabelled() -> str:
        headers = good.headers | {"x5t": other_x5t}
        return jwt.encode(good.claims(), sandbox.pair.key, "RS256", headers=headers)

    assert f"x5t '{other_x5t}' is not the thumbprint" in refusal(sandbox, mislabelled)


def test_a_tampered_signature_is_refused(sfm_auth: Callable[..., SfmAuthSandbox]) -> None:
    sandbox = sfm_auth()
    good = sandbox.assertion()

    def tampered() -> str:
        head, claims, signature = good().split(".")
        middle = len(signature) // 2
        flipped = "A" if signature[middle] != "A" else "B"
        return ".".join([head, claims, signature[:middle] + flipped + signature[middle + 1 :]])

    message = refusal(sandbox, tampered)
    assert "signature does not verify with the certificate registered" in message


def test_a_certificate_expiring_in_10_days_works_and_warns(
    sfm_auth: Callable[..., SfmAuthSandbox], caplog: pytest.LogCaptureFixture
) -> None:
    sandbox = sfm_auth()
    expiring = valid_for(10, key_name="expiring")
    sandbox.issuer.register(CLIENT_ID, expiring.certificate)
    with caplog.at_level("WARNING", logger="resources.sfm_auth"):
        assertion = sandbox.assertion(expiring)
    assert sandbox.credentials(assertion).token()
    assert "10 days left): send GRTgaz a new one now" in caplog.text
    assert assertion.days_left() == 10
