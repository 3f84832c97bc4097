"""Shared fixtures: a private GAZODUC_HOME per test, and sandboxes on free ports."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from resources.adict import AdictResource
from resources.ingrid import IngridResource
from resources.sfm import SfmResource
from resources.warehouse import WarehouseResource
from sandbox.adict_app import AdictSandbox, AdictSandboxConfig, build_adict_app
from sandbox.certificates import valid_for
from sandbox.ingrid_app import IngridSandboxConfig, build_ingrid_app
from sandbox.server import SandboxServer
from sandbox.sfm_app import build_sfm_app
from sandbox.sfm_auth import AssertionTokenIssuer
from sandbox.sfm_data import SfmSandboxConfig
from tests import services


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the scale-out tests on a machine without PostgreSQL or RabbitMQ."""
    scale_out = [item for item in items if item.get_closest_marker("scale_out")]
    missing = services.unreachable() if scale_out else []
    for item in scale_out if missing else []:
        item.add_marker(pytest.mark.skip(reason=f"{SCALE_OUT_SKIPPED}: {', '.join(missing)}"))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """One line when scale-out tests did not run, and why."""
    reasons = [
        report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        for report in terminalreporter.stats.get("skipped", [])
    ]
    skipped = [reason for reason in reasons if SCALE_OUT_SKIPPED in reason]
    if skipped:
        why = skipped[0].split(f"{SCALE_OUT_SKIPPED}: ", 1)[-1]
        terminalreporter.write_line(
            f"{len(skipped)} scale-out tests did not run: unreachable {why} "
            "(the shared mode needs them; `make test` on a machine with them runs all)"
        )


SCALE_OUT_SKIPPED = "scale-out service unreachable"
CLIENT_ID = "gazoduc-tests"
CLIENT_SECRET = "s3cr3t-never-logged-7f1c"  # distinctive, so a leak is easy to find


@pytest.fixture(autouse=True)
def no_stale_dagster_state_storage() -> Iterator[None]:
    """Dagster 1.13 keeps the defs-state storage of the last instance entered in a context
    variable, and `instance_for_test` can leave it pointing at a deleted folder: the next
    `materialize` of the same worker then fails with "unable to open database file".
    Each test starts and ends without one."""
    from dagster._core.storage.defs_state.base import _current_storage

    _current_storage.set(None)
    yield
    _current_storage.set(None)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test gets its own GAZODUC_HOME: tests never share state."""
    path = tmp_path / "gazoduc"
    monkeypatch.setenv("GAZODUC_HOME", str(path))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    return path


@dataclass
class Upstream:
    """A running ADICT sandbox and the resources that point at it."""

    server: SandboxServer
    sandbox: AdictSandbox
    home: Path

    def resource(self, **overrides: Any) -> AdictResource:
        settings = dict(
            base_url=f"{self.server.base_url}/adict/v2",
            token_url=f"{self.server.base_url}/oauth2/token",
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            calls_per_second=self.sandbox.config.calls_per_second,
            calls_per_day=self.sandbox.config.calls_per_day,
            state_dir=str(self.home / "state"),
        )
        return AdictResource(**(settings | overrides))

    def warehouse(self, **overrides: Any) -> WarehouseResource:
        return WarehouseResource(**({"home": str(self.home)} | overrides))

    def resources(self) -> dict[str, object]:
        return {"adict": self.resource(), "warehouse": self.warehouse()}

    def materialize_range(self, asset: Any, first: date, last: date, **kw: Any) -> Any:
        """A partition-range run, as a single-run backfill from the UI launches it."""
        tags = {
            "dagster/asset_partition_range_start": first.isoformat(),
            "dagster/asset_partition_range_end": last.isoformat(),
        }
        return dg.materialize([asset], resources=self.resources(), tags=tags, **kw)

    def calls(self, path_part: str = "") -> list[Any]:
        return [c for c in self.sandbox.quota.calls() if path_part in c.path]


@pytest.fixture
def adict_upstream(home: Path) -> Iterator[Callable[..., Upstream]]:
    """Start an ADICT sandbox: `adict_upstream(calls_per_second=2, portfolio_size=30)`."""
    servers: list[SandboxServer] = []

    def start(**config: Any) -> Upstream:
        defaults = {"calls_per_second": 40.0, "clients": {CLIENT_ID: CLIENT_SECRET}}
        app = build_adict_app(AdictSandboxConfig(**(defaults | config)))
        server = SandboxServer(app).start()
        servers.append(server)
        return Upstream(server, app.state.sandbox, home)

    yield start
    for server in servers:
        server.stop()


@dataclass
class IngridUpstream:
    """A running Ingrid sandbox and the resources that point at it."""

    server: SandboxServer
    sandbox: Any
    home: Path

    def resource(self, **overrides: Any) -> IngridResource:
        client_id, secret = next(iter(self.sandbox.config.clients.items()))
        settings = dict(
            base_url=self.server.base_url,
            token_url=f"{self.server.base_url}/oauth2/token",
            client_id=client_id,
            client_secret=secret,
            contract_code=self.sandbox.config.contracts[client_id][0],
            calls_per_second=self.sandbox.config.calls_per_second,
            calls_per_day=self.sandbox.config.calls_per_day,
            state_dir=str(self.home / "state"),
        )
        return IngridResource(**(settings | overrides))

    def resources(self, **overrides: Any) -> dict[str, object]:
        warehouse = WarehouseResource(home=str(self.home))
        return {"ingrid": self.resource(**overrides), "warehouse": warehouse}

    def materialize_range(self, assets: list[Any], first: date, last: date, **kw: Any) -> Any:
        tags = {
            "dagster/asset_partition_range_start": first.isoformat(),
            "dagster/asset_partition_range_end": last.isoformat(),
        }
        resources = kw.pop("resources", None) or self.resources()
        return dg.materialize(assets, resources=resources, tags=tags, **kw)

    def calls(self) -> list[Any]:
        return self.sandbox.quota.calls()


@pytest.fixture
def ingrid_upstream(home: Path) -> Iterator[Callable[..., IngridUpstream]]:
    """Start an Ingrid sandbox: `ingrid_upstream(token_ttl_seconds=2)`."""
    servers: list[SandboxServer] = []

    def start(**config: Any) -> IngridUpstream:
        defaults = {
            "calls_per_second": 50.0,
            "clients": {CLIENT_ID: CLIENT_SECRET},
            "contracts": {CLIENT_ID: ("GRT-SHP-0001",)},
        }
        app = build_ingrid_app(IngridSandboxConfig(**(defaults | config)))
        server = SandboxServer(app).start()
        servers.append(server)
        return IngridUpstream(server, app.state.sandbox, home)

    yield start
    for server in servers:
        server.stop()


SFM_CLIENT_ID = "gazoduc-sfm-tests"
SFM_SCOPE = "api://sfm-sandbox/.default"


@dataclass
class SfmUpstream:
    """A running SFM sandbox (certificate-verifying token endpoint) and our resource."""

    server: SandboxServer
    sandbox: Any
    home: Path
    cert_file: Path
    key_file: Path

    def resource(self, **overrides: Any) -> SfmResource:
        settings = dict(
            base_url=f"{self.server.base_url}/sfm/v1",
            token_url=f"{self.server.base_url}/oauth2/v2.0/token",
            client_id=SFM_CLIENT_ID,
            scope=SFM_SCOPE,
            cert_file=str(self.cert_file),
            key_file=str(self.key_file),
            calls_per_second=50.0,
            state_dir=str(self.home / "state"),
        )
        return SfmResource(**(settings | overrides))

    def resources(self, **overrides: Any) -> dict[str, object]:
        return {
            "sfm": self.resource(**overrides),
            "warehouse": WarehouseResource(home=str(self.home)),
        }

    def set_clock(self, moment: Any) -> None:
        self.sandbox.clock.set_now(moment)


@pytest.fixture
def sfm_upstream(home: Path, tmp_path: Path) -> Iterator[Callable[..., SfmUpstream]]:
    """Start an SFM sandbox: `sfm_upstream(now=datetime(...), certificate_days=365)`."""
    servers: list[SandboxServer] = []

    def start(certificate_days: int = 365, **config: Any) -> SfmUpstream:
        pair = valid_for(certificate_days, key_name="sfm-tests")
        cert_file, key_file = pair.write(tmp_path, f"sfm-{len(servers)}")
        issuer = AssertionTokenIssuer({SFM_CLIENT_ID: pair.certificate}, SFM_SCOPE)
        app = build_sfm_app(SfmSandboxConfig(**config), issuer)
        server = SandboxServer(app).start()
        servers.append(server)
        return SfmUpstream(server, app.state.sandbox, home, cert_file, key_file)

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one scale-out test."""
    with services.fresh_database() as url:
        yield url
