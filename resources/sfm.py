"""GRTgaz SFM client: flexibility indicators, declared and rebuilt programs (seed 001 §14).

Auth is Azure AD's client-credentials flow with a certificate-signed assertion (§11.2,
`resources.sfm_auth`); the token lives 1 h and is cached by `ClientCredentials`. Paths
are relative to SFM_BASE_URL (`…/sfm/v1`). GRTgaz publishes no quota: the client is as
polite as with ADICT, through its own entry in the shared ledger.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any, ClassVar

import httpx
import orjson

from resources.http import ApiCaller, ClientCredentials, UpstreamError, UpstreamResource, timeouts
from resources.sfm_auth import CertificateAssertion
from resources.streams import MalformedStreamError

log = logging.getLogger(__name__)

API = "sfm"
# The endpoint table of §14: the one place that knows SFM's paths.
PATHS = {
    "indicators": "/sites/flexibilityIndicators",  # §14.1, every site of the contract
    "site_indicators": "/sites/{site}/flexibilityIndicators",  # §14.2
    "profile": "/hmsProfiles/{profile_id}",  # §14.3
    "rebuilt_profile": "/sites/{site}/rebuiltHmsProfile",  # §14.4
    "site_profiles": "/sites/{site}/hmsProfiles",  # §14.5
    "declare": "/hmsProfiles",  # §14.6 (POST)
}
GAS_DAY_PARAM = "gasDayDate"
JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


class DeclarationRejected(UpstreamError):
    """GRTgaz refused a declaration as a whole (§2: one bad program rejects the batch)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"SFM refused the declaration: {code} {message}")
        self.code, self.reason = code, message


class SfmClient:
    def __init__(self, base_url: str, caller: ApiCaller) -> None:
        self.base_url = base_url.rstrip("/")
        self.caller = caller

    def indicators(self) -> list[dict[str, Any]]:
        """The `siteIndicators` of every site (current, and next once published); none when
        GRTgaz has none to show (§14.1 answers 404)."""
        return _listed(self._get(PATHS["indicators"], missing=[]), "siteIndicators")

    def site_ids(self, indicators: list[dict[str, Any]]) -> list[str]:
        """The contract's sites, from the indicators (§14 has no list of sites)."""
        sites = set()
        for item in indicators:
            body = item.get("siteIndicators", item)  # §13.1's object, wrapped or not
            sites.add(body["currentIndicator"]["siteId"])
        return sorted(sites)

    def profiles(self, site: str, day: date) -> list[dict[str, Any]]:
        """Every program declared for a site and gas day, with its feasibility."""
        # No `missing`: a day without programs is an empty list, so a 404 is an error (an
        # unknown site), never "nothing declared" that would clear rows.
        body = self._get(PATHS["site_profiles"].format(site=site), day)
        return _listed(body, "hmsProfiles")

    def rebuilt_profile(self, site: str, day: date) -> dict[str, Any] | None:
        """The reference program of a site and gas day, or None when there is none yet."""
        body = self._get(PATHS["rebuilt_profile"].format(site=site), day, missing=None)
        if body is not None and not isinstance(body, dict):
            raise MalformedStreamError(f"rebuiltHmsProfile of {site} {day}: not an object")
        return body

    def declare(self, programs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """POST programs (§14.6); the links of the integrated programs, or
        DeclarationRejected with GRTgaz's code and reason."""
        url = self.base_url + PATHS["declare"]
        payload = orjson.dumps({"hmsProfiles": programs})
        # Not idempotent: a declaration the server may have received is never re-sent.
        return self.caller.call("POST", url, _read_links, idempotent=False, content=payload)

    def _get(self, path: str, day: date | None = None, missing: Any = ...) -> Any:
        params = {GAS_DAY_PARAM: day.isoformat()} if day else {}

        def read(response: httpx.Response) -> Any:
            response.read()
            if response.status_code == 404 and missing is not ...:
                return missing  # §14: 404 also means "nothing declared / rebuilt yet"
            _raise_for_status(response)
            return _json(response)

        return self.caller.call("GET", self.base_url + path, read, params=params)


def _read_links(response: httpx.Response) -> list[dict[str, Any]]:
    response.read()
    if response.status_code == 400:
        body = _json(response)
        raise DeclarationRejected(str(body.get("code", "")), str(body.get("message", "")))
    _raise_for_status(response)
    return _listed(_json(response), "links")


def _raise_for_status(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        body = response.json()
        detail = f"{body.get('code', '')} {body.get('message', '')}".strip()
    except (ValueError, AttributeError):
        detail = " ".join(response.text.split())[:300]
    where = f"{response.request.method} {response.url.path}"
    raise UpstreamError(f"{where}: HTTP {response.status_code}: {detail}")


def _json(response: httpx.Response) -> Any:
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError as exc:
        raise MalformedStreamError(f"{response.url.path}: not JSON ({exc})") from None


def _listed(body: Any, field: str) -> list[dict[str, Any]]:
    """A list, sent bare or wrapped in `{field: [...]}` (§14 names the list, not the JSON)."""
    items = body.get(field) if isinstance(body, dict) else body
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise MalformedStreamError(f"expected a list of `{field}` objects")
    return items


class SfmResource(UpstreamResource):
    """GRTgaz SFM, configured by SFM_* variables (see README)."""

    API: ClassVar[str] = API
    scope: str
    cert_file: str
    key_file: str

    def assertion(self) -> CertificateAssertion:
        """Checked now: a key that does not match, or an expired certificate, fail here."""
        return CertificateAssertion.from_files(
            self.cert_file, self.key_file, self.client_id, self.token_url
        )

    @contextmanager
    def client(self) -> Iterator[SfmClient]:
        self.check()
        assertion = self.assertion()
        with httpx.Client(timeout=timeouts(), follow_redirects=False) as http:
            credentials = ClientCredentials(
                http, self.token_url, self.client_id, scope=self.scope, assertion=assertion
            )
            yield SfmClient(
                self.base_url, ApiCaller(http, credentials, self.ledger(), headers=JSON_HEADERS)
            )
