"""The raw zone: every answered call's body, stored once, compressed, with a manifest.

Quota is what is scarce, so an answer is never asked for twice: each body lands under
`raw/<api>/<dataset>/<scope>/` (zstd) before anything is built from it, and a manifest
row says what it answers. A run that dies resumes from the manifest; curated tables are
rebuilt from here, without a call (`gazoduc reparse`).

Where: embedded, the files under `$GAZODUC_HOME/raw` and the manifest in
`$GAZODUC_HOME/state/raw.sqlite`; shared (several machines), the files under an S3
prefix and the manifest in PostgreSQL (warehouse/raw_manifest.py). The files go through
pyarrow's filesystem layer either way, so one code path writes and reads both.

Answers hold what upstream sent, holder names and e-mails included: an embedded zone is
private to the user running gazoduc (folders 0700, files 0600, whatever the umask); a
shared one is as private as its bucket. An answer damaged in storage is set aside under
`raw/_damaged/` and leaves the manifest, so the next run asks for it again (one call) and
a reparse goes on with the others.
"""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs

from warehouse.raw_manifest import Answer, Manifest, PostgresManifest, SqliteManifest
from warehouse.s3 import S3Location

__all__ = ["ALL_SCOPES", "Answer", "DamagedAnswer", "RawZone"]

# What a scope is, per source: a PCE (ADICT), a shipper contract (Ingrid), a site (SFM),
# or ALL_SCOPES for an answer covering them all (the rights list, the indicators).
ALL_SCOPES = "*"
DAMAGED = "_damaged"
RAW_FOLDER = "raw"
PRIVATE_DIR, PRIVATE_FILE = 0o700, 0o600

log = logging.getLogger(__name__)


class DamagedAnswer(RuntimeError):
    """A stored answer that cannot be read back; it has been set aside already."""


@dataclass(frozen=True)
class AnswerFiles:
    """The folder the bodies are stored in: local (`/home/raw`) or S3 (`bucket/prefix/raw`),
    through the same pyarrow calls."""

    fs: pafs.FileSystem
    root: str  # as `fs` names it
    s3: S3Location | None = None

    @classmethod
    def local(cls, root: Path) -> AnswerFiles:
        private_dir(root)
        return cls(pafs.LocalFileSystem(), str(root))

    @classmethod
    def on_s3(cls, location: S3Location) -> AnswerFiles:
        files = cls(location.filesystem(), location.key(RAW_FOLDER), location)
        # A missing bucket reads as missing answers, which would all be set aside: say so now.
        if files.fs.get_file_info(location.bucket).type != pafs.FileType.Directory:
            raise FileNotFoundError(f"no bucket {location.bucket!r} at {location.endpoint}")
        return files

    def name(self, relative: str) -> str:
        return f"{self.root}/{relative}"

    def url(self, relative: str) -> str:
        """What DuckDB reads: a local path, or an s3:// URL."""
        return self.s3.url(f"{RAW_FOLDER}/{relative}") if self.s3 else self.name(relative)

    def write(self, relative: str, stored: bytes) -> None:
        """Store `stored` whole under `relative`: nothing is ever seen half-written."""
        if self.s3 is not None:
            # An S3 object appears when its upload completes, never partly.
            with self.fs.open_output_stream(self.name(relative), compression=None) as out:
                out.write(stored)
            return
        target = Path(self.name(relative))
        private_dir(target.parent)
        tmp = target.with_suffix(".tmp")
        # Created 0600 before a byte is written: no moment where another user could read it.
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE))
        with self.fs.open_output_stream(str(tmp), compression=None) as out:
            out.write(stored)
        _fsync(tmp)  # on disk before the manifest says so: a power cut loses no answer
        self.fs.move(str(tmp), str(target))
        _fsync(target.parent)

    def read(self, relative: str) -> bytes:
        # compression=None: pyarrow would otherwise decompress on seeing `.zst`.
        with self.fs.open_input_stream(self.name(relative), compression=None) as stream:
            return stream.read()

    def set_aside(self, relative: str) -> str:
        """Move a file under `_damaged/` (if it is there at all); where it went."""
        source, target = self.name(relative), self.name(f"{DAMAGED}/{relative}")
        if self.fs.get_file_info(source).type == pafs.FileType.File:
            if self.s3 is None:
                private_dir(Path(target).parent)
            self.fs.move(source, target)
        return self.url(f"{DAMAGED}/{relative}")


class RawZone:
    """The stored answers of a home: files under `<home>/raw`, or `storage`'s `raw/` prefix;
    manifest in `<home>/state/raw.sqlite`, or `database_url`'s `raw.answers`."""

    def __init__(
        self, home: Path, database_url: str | None = None, storage: S3Location | None = None
    ) -> None:
        self.files = AnswerFiles.on_s3(storage) if storage else AnswerFiles.local(home / "raw")
        self.manifest: Manifest = (
            PostgresManifest(database_url) if database_url else _local_manifest(home)
        )
        self.set_aside: list[Answer] = []  # damaged answers met by this object

    def put(
        self,
        api: str,
        dataset: str,
        scope: str,
        first_day: date,
        last_day: date,
        body: bytes,
        outcome: str,
        records: int,
    ) -> Answer:
        """Store a body (file first, then its manifest row: a crash leaves no row
        pointing at nothing) and return its manifest entry."""
        fetched_at = datetime.now(UTC)
        relative = (
            f"{api}/{dataset}/{scope}/{first_day}_{last_day}_{uuid.uuid4().hex[:12]}.json.zst"
        )
        stored = _zstd(body)
        self.files.write(relative, stored)
        answer = Answer(
            api,
            dataset,
            scope,
            first_day,
            last_day,
            outcome,
            records,
            hashlib.sha256(body).hexdigest(),
            relative,
            fetched_at,
            hashlib.sha256(stored).hexdigest(),
        )
        self.manifest.add(answer)
        return answer

    def read(self, answer: Answer) -> bytes:
        """The body of a stored answer; DamagedAnswer (the answer set aside) if it cannot
        be read back whole."""
        body = self._decompressed(answer, self._stored(answer))
        if hashlib.sha256(body).hexdigest() != answer.checksum:
            raise self._set_aside(answer, "does not match its checksum")
        return body

    def _stored(self, answer: Answer) -> bytes:
        """The file as stored. Only a missing file is damage: any other error (a
        permission, too many open files, S3 out of reach) is this machine's trouble, and
        the answer may well be fine."""
        try:
            return self.files.read(answer.path)
        except FileNotFoundError as exc:
            raise self._set_aside(answer, f"unreadable ({exc})") from None

    def _decompressed(self, answer: Answer, stored: bytes) -> bytes:
        try:
            with pa.input_stream(pa.BufferReader(stored), compression="zstd") as stream:
                return stream.read()
        except MemoryError:
            raise
        except (OSError, pa.ArrowException) as exc:  # in memory: the bytes are at fault
            raise self._set_aside(answer, f"unreadable ({exc})") from None

    def _set_aside(self, answer: Answer, why: str) -> DamagedAnswer:
        """Move a damaged answer out of the zone and the manifest: the next run asks for it
        again, and nothing built later trips on it."""
        target = self.files.set_aside(answer.path)
        self.manifest.remove(answer.path)
        self.set_aside.append(answer)
        message = (
            f"raw answer {answer.path} ({answer.scope} {answer.first_day}..{answer.last_day}) "
            f"{why}: set aside in {target}; the next run asks for it again"
        )
        log.error(message)
        return DamagedAnswer(message)

    def file(self, answer: Answer) -> str:
        """Where DuckDB reads an answer's body (zstd-compressed NDJSON or JSON): a local
        path, or an s3:// URL (the session then needs httpfs and a secret, see lake.py)."""
        return self.files.url(answer.path)

    def verified(self, answers: Iterable[Answer]) -> list[Answer]:
        """The answers whose stored file is intact, for a reader of the files themselves
        (DuckDB's `read_json`); damaged ones are set aside, as `read` does."""
        intact = []
        for answer in answers:
            try:
                intact.append(self._verify(answer))
            except DamagedAnswer:
                continue
        return intact

    def _verify(self, answer: Answer) -> Answer:
        stored = self._stored(answer)
        checksum = hashlib.sha256(stored).hexdigest()
        if answer.stored_checksum is None:  # stored before files had their own checksum
            body = self._decompressed(answer, stored)
            if hashlib.sha256(body).hexdigest() != answer.checksum:  # the body's, once
                raise self._set_aside(answer, "does not match its checksum")
            self.manifest.record_stored_checksum(answer.path, checksum)
            return replace(answer, stored_checksum=checksum)
        if checksum != answer.stored_checksum:
            raise self._set_aside(answer, "does not match its checksum")
        return answer

    def readable(self, answers: Iterable[Answer]) -> Iterator[tuple[Answer, bytes]]:
        """Each answer with its body, damaged ones set aside and skipped."""
        for answer in answers:
            try:
                yield answer, self.read(answer)
            except DamagedAnswer:
                continue

    def answers(
        self,
        api: str,
        dataset: str,
        scope: str | None = None,
        first_day: date = date.min,
        last_day: date = date.max,
    ) -> list[Answer]:
        """Answers overlapping [first_day, last_day], oldest first."""
        return self.manifest.overlapping(api, dataset, scope, first_day, last_day)


def _local_manifest(home: Path) -> SqliteManifest:
    """`state/raw.sqlite`, private like the answers it lists."""
    file = home / "state" / "raw.sqlite"
    private_dir(file.parent)
    manifest = SqliteManifest(file)
    for path in manifest.files():
        path.chmod(PRIVATE_FILE)
    return manifest


def private_dir(path: Path) -> None:
    """Make a folder (and its missing parents) readable by its owner only."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    path.mkdir(parents=True, exist_ok=True)
    for folder in (path, *missing):
        folder.chmod(PRIVATE_DIR)


def _zstd(body: bytes) -> bytes:
    """`body` as stored: compressed in memory, so its checksum needs no read-back."""
    sink = pa.BufferOutputStream()
    with pa.CompressedOutputStream(sink, "zstd") as out:
        out.write(body)
    return sink.getvalue().to_pybytes()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
