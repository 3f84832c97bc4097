"""Where the shared mode keeps its files: an S3 bucket and prefix, and its credentials.

`resources/warehouse.py` reads GAZODUC_STORAGE_URL and the AWS_* variables and hands an
`S3Location` to the raw zone and the lake: `warehouse/` reads no setting itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pyarrow.fs as pafs


@dataclass(frozen=True)
class S3Location:
    """`s3://bucket/prefix`, the endpoint serving it, and the keys to it."""

    bucket: str
    prefix: str  # without leading or trailing slash; "" for the bucket's root
    region: str
    endpoint: str | None = None  # http(s)://host[:port] of an S3-compatible store; None: AWS
    key_id: str | None = field(default=None, repr=False)
    secret: str | None = field(default=None, repr=False)

    @classmethod
    def from_url(
        cls,
        url: str,
        region: str,
        endpoint: str | None = None,
        key_id: str | None = None,
        secret: str | None = None,
    ) -> S3Location:
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise ValueError(f"an S3 location is s3://bucket[/prefix], not {url!r}")
        return cls(parts.netloc, parts.path.strip("/"), region, endpoint, key_id, secret)

    def key(self, relative: str) -> str:
        """`relative` as pyarrow names it: `bucket/prefix/relative`."""
        return "/".join(p for p in (self.bucket, self.prefix, relative.strip("/")) if p)

    def url(self, relative: str) -> str:
        """`relative` as DuckDB names it: `s3://bucket/prefix/relative`. A folder (""
        or `name/`) keeps its trailing slash: `prefix/` does not cover `prefix-other/`."""
        folder = relative == "" or relative.endswith("/")
        return f"s3://{self.key(relative)}" + ("/" if folder else "")

    @property
    def plain_http(self) -> bool:
        return self.endpoint is not None and urlsplit(self.endpoint).scheme == "http"

    @property
    def endpoint_host(self) -> str | None:
        """The endpoint without its scheme, as DuckDB's S3 secret wants it."""
        return urlsplit(self.endpoint).netloc if self.endpoint else None

    def filesystem(self) -> pafs.S3FileSystem:
        """pyarrow's view of the bucket. It never creates or deletes a bucket: a wrong
        bucket name fails instead of scattering answers in a new one."""
        return pafs.S3FileSystem(
            access_key=self.key_id,
            secret_key=self.secret,
            region=self.region,
            endpoint_override=self.endpoint,
            allow_bucket_creation=False,
            allow_bucket_deletion=False,
        )
