"""S3 for the scale-out tests: moto's server on loopback (a real HTTP endpoint, no mock),
a fresh bucket per test, and the shared mode's settings pointing at it."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from warehouse.s3 import S3Location

KEY_ID = "gazoduc-test-key"
SECRET_KEY = "s3-secret-never-logged-5d2e"  # distinctive, so a leak is easy to find
DB_PASSWORD = "pg-password-never-logged-9b4a"  # trust auth accepts it and ignores it
REGION = "eu-west-3"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's S3 server, one per test worker, on a free loopback port."""
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@dataclass(frozen=True)
class Shared:
    """The shared mode's settings of one test: its database and its bucket."""

    database_url: str  # with a password, so a leak would show
    storage: S3Location

    def environment(self) -> dict[str, str]:
        return {
            "GAZODUC_DATABASE_URL": self.database_url,
            "GAZODUC_STORAGE_URL": self.storage.url(""),
            "AWS_ENDPOINT_URL": self.storage.endpoint or "",
            "AWS_ACCESS_KEY_ID": KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_REGION": REGION,
        }

    def objects(self, under: str = "") -> list[str]:
        """The objects stored under the prefix's `under`, relative to the prefix. Not the
        empty `folder/` markers pyarrow leaves when it moves a folder's last file away."""
        listed = _client(self.storage).list_objects_v2(
            Bucket=self.storage.bucket, Prefix=self.storage.key(under).split("/", 1)[1]
        )
        start = len(self.storage.prefix) + 1
        keys = (o["Key"][start:] for o in listed.get("Contents", []))
        return sorted(key for key in keys if not key.endswith("/"))

    def get(self, relative: str) -> bytes:
        key = self.storage.key(relative).split("/", 1)[1]
        found = _client(self.storage).get_object(Bucket=self.storage.bucket, Key=key)
        return found["Body"].read()

    def put(self, relative: str, body: bytes) -> None:
        key = self.storage.key(relative).split("/", 1)[1]
        _client(self.storage).put_object(Bucket=self.storage.bucket, Key=key, Body=body)


def _client(storage: S3Location) -> Any:  # boto3 generates its client types
    return boto3.client(
        "s3",
        endpoint_url=storage.endpoint,
        aws_access_key_id=storage.key_id,
        aws_secret_access_key=storage.secret,
        region_name=storage.region,
    )


@pytest.fixture
def shared(
    postgres_url: str, moto_endpoint: str, home: Path, monkeypatch: pytest.MonkeyPatch
) -> Shared:
    """A fresh database and bucket, set as this test's GAZODUC_DATABASE_URL,
    GAZODUC_STORAGE_URL and AWS_* (for the code that reads settings, and subprocesses)."""
    bucket = f"gazoduc-{uuid.uuid4().hex[:12]}"
    storage = S3Location(bucket, "prod/eu", REGION, moto_endpoint, KEY_ID, SECRET_KEY)
    _client(storage).create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    url = postgres_url.replace("postgresql://postgres@", f"postgresql://postgres:{DB_PASSWORD}@")
    settings = Shared(url, storage)
    for name, value in settings.environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("GAZODUC_WAREHOUSE", raising=False)
    return settings
