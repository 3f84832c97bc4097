"""GRDF ADICT access rights ("GDA"): read them, declare, revoke, send proofs.

Contract: GRDF's Swagger (`shared/references/adict-v2-swagger.json`), paths below. Every
call takes a slot of the same quota ledger as the data calls.

Reads are idempotent: ApiCaller retries them. Writes are sent once per attempt: a
write whose answer was lost (read timeout, cut connection, 5xx) may have acted, and a
blind retry would turn a landed revocation into a 409, or send proofs twice. So after
such a failure the client reads the right back, and sends again only if it did not act.
"""

from __future__ import annotations

import logging
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from resources.adict import AdictResource, parse_stream
from resources.http import (
    ApiCaller,
    AuthError,
    ClientCredentials,
    RetryableError,
    UpstreamError,
    timeouts,
)

log = logging.getLogger(__name__)

PATHS = {
    "rights": "/droits_acces",  # GET: all; POST: filtered by lists
    "declare": "/pce/{id_pce}/droit_acces",  # PUT
    "revoke": "/droit_acces/{id_droit_acces}",  # PATCH
    "proofs": "/droit_acces/{id_droit_acces}/preuves",  # PUT multipart, field `preuves`
}
# What a right says about its holder: never logged, never in a result file.
HOLDER_FIELDS = frozenset(
    {
        "nom_titulaire",
        "raison_sociale",
        "raison_sociale_du_titulaire",
        "courriel_titulaire",
        "numero_telephone_mobile_titulaire",
        "code_postal",
    }
)
PENDING_STATES = ("A valider", "A revérifier")  # the holder or GRDF has yet to decide
PROOF_ASKED = "Preuve en attente"
PROOF_TO_CHECK = "Preuve à vérifier"  # what GRDF shows once proofs arrived (seed 003)
TECHNICAL_ERROR = "Une erreur technique est survenue."  # a 409 that says nothing happened
ACCEPTED_STATUSES = (200, 201)


@dataclass(frozen=True)
class GdaAnswer:
    """GRDF's answer to a write: status, code and message; the right without its holder."""

    status: int
    code: str
    message: str
    right: dict[str, Any] = field(default_factory=dict)
    read_back: bool = False  # the answer was lost; the right was read to know the outcome

    @property
    def accepted(self) -> bool:
        return self.status in ACCEPTED_STATUSES


def without_holder(record: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in record.items() if key not in HOLDER_FIELDS}


class ConsentsClient:
    """The five GDA resources; writes are safe to call again after any failure."""

    WRITE_ATTEMPTS = 3

    def __init__(self, base_url: str, reads: ApiCaller, writes: ApiCaller) -> None:
        self.base_url = base_url.rstrip("/")
        self.reads, self.writes = reads, writes

    @property
    def calls_sent(self) -> int:
        return self.reads.stats.sent + self.writes.stats.sent

    def rights(self, id_pces: list[str] | None = None) -> list[dict[str, Any]]:
        """Our rights, every one (GET) or those of these meters (POST, one call)."""
        url = self._url("rights")
        if id_pces is None:
            return self.reads.call("GET", url, _read_rights)
        if not id_pces:
            return []
        return self.reads.call("POST", url, _read_rights, json={"id_pce": id_pces})

    def right(self, id_droit_acces: str) -> dict[str, Any] | None:
        return next((r for r in self.rights() if r["id_droit_acces"] == id_droit_acces), None)

    def declare(self, id_pce: str, declaration: dict[str, Any]) -> GdaAnswer:
        """PUT a declaration. After a lost answer, a right of this meter with the same
        consent dates and holder e-mail is taken as ours (GRDF keeps one per meter)."""
        url = self._url("declare", id_pce=id_pce)

        def read_back() -> GdaAnswer | None:
            for right in self.rights([id_pce]):
                if _same_consent(right, declaration):
                    return GdaAnswer(201, "", "read back", without_holder(right), True)
            return None

        return self._write(
            lambda: self.writes.call("PUT", url, _read_gda, idempotent=False, json=declaration),
            read_back,
            f"declaration of PCE {id_pce}",
        )

    def revoke(self, id_droit_acces: str) -> GdaAnswer:
        """PATCH a right to Révoquée. A lost answer and a right found revoked: done."""
        url = self._url("revoke", id_droit_acces=id_droit_acces)

        def read_back() -> GdaAnswer | None:
            right = self.right(id_droit_acces)
            if right is not None and right.get("etat_droit_acces") == "Révoquée":
                return GdaAnswer(200, "", "read back", without_holder(right), True)
            return None

        return self._write(
            lambda: self.writes.call("PATCH", url, _read_gda, idempotent=False),
            read_back,
            f"revocation of {id_droit_acces}",
        )

    def send_proofs(self, id_droit_acces: str, proofs: list[ProofFile]) -> GdaAnswer:
        """PUT up to 3 proofs (checked by `check_proofs` first)."""
        url = self._url("proofs", id_droit_acces=id_droit_acces)
        parts = [("preuves", (p.name, p.content, p.media_type)) for p in proofs]

        def read_back() -> GdaAnswer | None:
            right = self.right(id_droit_acces)
            if right is None or right.get("statut_controle_preuve") != PROOF_TO_CHECK:
                return None  # not received: sending again is safe
            # Received, by this call or an earlier one: GRDF has proofs to check, and
            # sending again could only duplicate them.
            message = f"read back: '{PROOF_TO_CHECK}', not sent again"
            return GdaAnswer(200, "", message, without_holder(right), True)

        return self._write(
            lambda: self.writes.call("PUT", url, _read_gda, idempotent=False, files=parts),
            read_back,
            f"proofs for {id_droit_acces}",
        )

    def _write(
        self, send: Callable[[], GdaAnswer], read_back: Callable[[], GdaAnswer | None], what: str
    ) -> GdaAnswer:
        for attempt in range(1, self.WRITE_ATTEMPTS + 1):
            try:
                return send()
            except AuthError:
                raise
            except UpstreamError as exc:
                if attempt == self.WRITE_ATTEMPTS:
                    raise
                # Decided by how the last attempt failed: an earlier 429 says nothing of it.
                last = exc.__cause__
                refused = isinstance(last, RetryableError) and last.status == 429
                if not refused and _may_have_acted(exc):
                    log.warning("%s: %s; reading the right back before sending again", what, exc)
                    if (settled := read_back()) is not None:
                        return settled
                time.sleep(_pause(exc, attempt))
        raise AssertionError("unreachable")

    def _url(self, name: str, **params: str) -> str:
        return self.base_url + PATHS[name].format(**params)


def _same_consent(right: dict[str, Any], declaration: dict[str, Any]) -> bool:
    keys = ("date_debut_droit_acces", "date_fin_droit_acces", "courriel_titulaire")
    same = all(
        str(right.get(k) or "").strip().lower() == str(declaration.get(k) or "").strip().lower()
        for k in keys
    )
    return same and right.get("etat_droit_acces") in ("A valider", "Active")


def _may_have_acted(exc: UpstreamError) -> bool:
    """False only when the request never left: no connection was made."""
    return not isinstance(exc.__cause__, httpx.ConnectError | httpx.ConnectTimeout)


def _pause(exc: UpstreamError, attempt: int) -> float:
    cause = exc.__cause__
    if isinstance(cause, RetryableError) and cause.retry_after is not None:
        return min(cause.retry_after, 30.0)
    return float(min(2 ** (attempt - 1), 30))


def _read_rights(response: httpx.Response) -> list[dict[str, Any]]:
    body = response.read()
    if response.status_code >= 400:
        message = _message(body)
        if TECHNICAL_ERROR in message:
            raise RetryableError(f"HTTP {response.status_code}: {message}")
        raise UpstreamError(f"{response.url.path}: HTTP {response.status_code}: {message}")
    records = parse_stream(body, response.url.path)
    if len(records) == 1 and isinstance(records[0].get("liste_acces"), list):
        return records[0]["liste_acces"]  # the wrapped form seen upstream
    return records


def _read_gda(response: httpx.Response) -> GdaAnswer:
    """Any 2xx/4xx answer of a write, typed; a 409 "technical error" acted on nothing
    we can tell, so it goes the way of a lost answer (read back, then maybe again)."""
    body = response.read()
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        document = {}
    if not isinstance(document, dict):
        document = {}
    message = str(document.get("message_retour_traitement", "")) or _short(body)
    if response.status_code == 409 and message == TECHNICAL_ERROR:
        raise RetryableError(f"HTTP 409: {message}")
    right = {k: v for k, v in document.items() if not k.endswith("_traitement")}
    code = str(document.get("code_statut_traitement", ""))
    return GdaAnswer(response.status_code, code, message, without_holder(right))


def _message(body: bytes) -> str:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return _short(body)
    if isinstance(document, dict):
        return str(document.get("message_retour_traitement", document))[:300]
    return _short(body)


def _short(body: bytes) -> str:
    return " ".join(body.decode("utf-8", "replace").split())[:300]


@contextmanager
def consents_client(
    adict: AdictResource, read_timeout_seconds: float = 120.0
) -> Iterator[ConsentsClient]:
    """A client on ADICT's settings: one token, one HTTP pool, the shared quota ledger;
    reads retried by ApiCaller, writes sent once per attempt (see ConsentsClient)."""
    with httpx.Client(timeout=timeouts(read_timeout_seconds), follow_redirects=False) as http:
        credentials = ClientCredentials(
            http, adict.token_url, adict.client_id, adict.client_secret, adict.scope
        )
        ledger = adict.ledger()
        reads = ApiCaller(http, credentials, ledger)
        writes = ApiCaller(http, credentials, ledger, max_attempts=1)
        yield ConsentsClient(adict.base_url, reads, writes)


# --- proofs, checked before any call -------------------------------------------------------

MAX_PROOFS = 3  # per call (seed 003, "Transmettre preuves")
MAX_PROOF_BYTES = 4 * 1024 * 1024  # "4Mo" per file
_OOXML_PART = {"docx": "word/", "xlsx": "xl/", "pptx": "ppt/"}
_TEXT_CONTROLS = frozenset(range(32)) - {9, 10, 12, 13}


@dataclass(frozen=True)
class ProofFile:
    name: str
    content: bytes
    media_type: str


def _is_zip(path: Path, head: bytes) -> bool:
    return head.startswith((b"PK\x03\x04", b"PK\x05\x06")) and zipfile.is_zipfile(path)


def _is_ooxml(extension: str) -> Callable[[Path, bytes], bool]:
    def check(path: Path, head: bytes) -> bool:
        if not _is_zip(path, head):
            return False
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
        prefix = _OOXML_PART[extension]
        return "[Content_Types].xml" in names and any(n.startswith(prefix) for n in names)

    return check


def _is_text(path: Path, head: bytes) -> bool:
    """UTF-8 or Latin-1 text: no NUL, no control character but tab, newlines, form feed."""
    return not _TEXT_CONTROLS.intersection(path.read_bytes())


def _is_mp3(path: Path, head: bytes) -> bool:
    return head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] >= 0xE0)


# Format by content (magic bytes), not by name: (media type, check of the file).
PROOF_FORMATS: dict[str, tuple[str, Callable[[Path, bytes], bool]]] = {
    "pdf": ("application/pdf", lambda path, head: head.startswith(b"%PDF-")),
    "mp3": ("audio/mpeg", _is_mp3),
    "mp4": ("video/mp4", lambda path, head: head[4:8] == b"ftyp"),
    "zip": ("application/zip", _is_zip),
    "csv": ("text/csv", _is_text),
    "txt": ("text/plain", _is_text),
    "docx": (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        _is_ooxml("docx"),
    ),
    "xlsx": (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        _is_ooxml("xlsx"),
    ),
    "pptx": (
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        _is_ooxml("pptx"),
    ),
}


class ProofRejected(ValueError):
    """Files GRDF would refuse: every reason, one per line, before any call."""


def check_proofs(paths: list[Path]) -> list[ProofFile]:
    """The files as GRDF accepts them (count, size, format by content), or ProofRejected."""
    problems = []
    if not paths:
        problems.append("no proof given")
    if len(paths) > MAX_PROOFS:
        problems.append(f"{len(paths)} files: GRDF takes at most {MAX_PROOFS} per call")
    problems += [problem for path in paths if (problem := _proof_problem(path))]
    if problems:
        raise ProofRejected("\n".join(problems))
    return [
        ProofFile(path.name, path.read_bytes(), PROOF_FORMATS[_extension(path)][0])
        for path in paths
    ]


def _proof_problem(path: Path) -> str | None:
    if not path.is_file():
        return f"{path.name}: no such file"
    size, extension = path.stat().st_size, _extension(path)
    if size > MAX_PROOF_BYTES:
        return f"{path.name}: {size:,} bytes, over GRDF's 4 MB ({MAX_PROOF_BYTES:,} bytes)"
    if size == 0:
        return f"{path.name}: empty"
    if extension not in PROOF_FORMATS:
        return f"{path.name}: .{extension} is not one of {', '.join(sorted(PROOF_FORMATS))}"
    with path.open("rb") as file:
        head = file.read(16)
    if not PROOF_FORMATS[extension][1](path, head):
        return f"{path.name}: named .{extension} but its content is not {extension}"
    return None


def _extension(path: Path) -> str:
    return path.suffix.lower().lstrip(".")
