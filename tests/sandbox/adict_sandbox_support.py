"""Helpers for the ADICT sandbox tests: a served app and an authenticated client."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import httpx
import orjson

from sandbox.adict_app import AdictSandbox, AdictSandboxConfig, build_adict_app
from sandbox.server import SandboxServer

TODAY = date(2026, 11, 22)
CLIENT_ID, CLIENT_SECRET = "gazoduc-sandbox", "sandbox-secret"


class Served:
    """A running sandbox with an httpx client that holds a token."""

    def __init__(self, server: SandboxServer, sandbox: AdictSandbox) -> None:
        self.server, self.sandbox = server, sandbox
        self.http = httpx.Client(base_url=server.base_url, timeout=10)
        self.token = fetch_token(self.http)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(f"/adict/v2{path}", headers=self.auth, **kwargs)

    def lines(self, path: str, **kwargs: Any) -> list[dict[str, Any]]:
        response = self.get(path, **kwargs)
        assert response.status_code == 200, response.text
        return [orjson.loads(line) for line in response.text.splitlines()]

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def pce(self, index: int) -> str:
        return self.sandbox.portfolio.pces[index].id_pce


def fetch_token(http: httpx.Client) -> str:
    form = {"grant_type": "client_credentials", "client_id": CLIENT_ID}
    form |= {"client_secret": CLIENT_SECRET, "scope": "/adict/v2"}
    response = http.post("/oauth2/token", data=form)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def serve(**overrides: Any) -> Iterator[Served]:
    config = AdictSandboxConfig(**({"today": TODAY, "calls_per_second": 1000.0} | overrides))
    app = build_adict_app(config)
    with SandboxServer(app) as server:
        served = Served(server, app.state.sandbox)
        yield served
        served.http.close()
