"""The raw zone: every answered call's body, stored once, compressed, with a manifest.

Quota is what is scarce, so an answer is never asked for twice: each body lands under
`$GAZODUC_HOME/raw/<api>/<dataset>/<scope>/` (zstd) before anything is built from it,
and a manifest row in `$GAZODUC_HOME/state/raw.sqlite` says what it answers. A run that
dies resumes from the manifest; curated tables are rebuilt from here, without a call
(`gazoduc reparse`).

Answers hold what upstream sent, holder names and e-mails included: the zone is private
to the user running gazoduc (folders 0700, files 0600, whatever the umask). An answer
damaged on disk is set aside under `raw/_damaged/` and leaves the manifest, so the next
run asks for it again (one call) and a reparse goes on with the others.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import sqlite3
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    api TEXT NOT NULL, dataset TEXT NOT NULL, scope TEXT NOT NULL,
    first_day TEXT NOT NULL, last_day TEXT NOT NULL,
    outcome TEXT NOT NULL, records INTEGER NOT NULL,
    checksum TEXT NOT NULL, path TEXT NOT NULL, fetched_at TEXT NOT NULL,
    stored_checksum TEXT
);
CREATE INDEX IF NOT EXISTS answers_by_scope ON answers (api, dataset, scope, first_day);
"""
# What a scope is, per source: a PCE (ADICT), a shipper contract (Ingrid), a site (SFM),
# or ALL_SCOPES for an answer covering them all (the rights list, the indicators).
ALL_SCOPES = "*"
DAMAGED = "_damaged"
PRIVATE_DIR, PRIVATE_FILE = 0o700, 0o600

log = logging.getLogger(__name__)


class DamagedAnswer(RuntimeError):
    """A stored answer that cannot be read back; it has been set aside already."""


@dataclass(frozen=True)
class Answer:
    """One stored answer: which request it answers, what it said, where its body is."""

    api: str
    dataset: str
    scope: str  # a PCE, a contract, a site, or ALL_SCOPES
    first_day: date
    last_day: date
    outcome: str  # data, no_data, not_allowed
    records: int
    checksum: str
    path: str  # relative to the raw zone
    fetched_at: datetime
    # SHA-256 of the file as stored (compressed): checked without decompressing, so a
    # landing that parses the files with DuckDB reads each one once. None: an answer
    # stored before it existed, checked by its body's checksum once, then recorded.
    stored_checksum: str | None = None


class RawZone:
    def __init__(self, home: Path) -> None:
        self.root = home / "raw"
        self.manifest = home / "state" / "raw.sqlite"
        self.set_aside: list[Answer] = []  # damaged answers met by this object
        private_dir(self.root)
        private_dir(self.manifest.parent)
        with self._connection() as con:
            _migrate(con)  # its own transaction, committed here
        with self._connection() as con:
            con.executescript(_SCHEMA)
            con.execute("PRAGMA journal_mode=WAL")
        for path in _sqlite_files(self.manifest):
            path.chmod(PRIVATE_FILE)

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.manifest, timeout=60)
        try:
            with con:
                yield con
        finally:
            con.close()

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
        target = self.root / relative
        private_dir(target.parent)
        tmp = target.with_suffix(".tmp")
        # Created 0600 before a byte is written: no moment where another user could read it.
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE))
        with pa.CompressedOutputStream(str(tmp), "zstd") as out:
            out.write(body)
        _fsync(tmp)  # on disk before the manifest says so: a power cut loses no answer
        os.replace(tmp, target)
        _fsync(target.parent)
        stored_checksum = _file_sha256(target)
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
            stored_checksum,
        )
        with self._connection() as con:
            con.execute(
                "INSERT INTO answers (api, dataset, scope, first_day, last_day, outcome, "
                "records, checksum, path, fetched_at, stored_checksum) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    api,
                    dataset,
                    scope,
                    first_day.isoformat(),
                    last_day.isoformat(),
                    outcome,
                    records,
                    answer.checksum,
                    relative,
                    fetched_at.isoformat(),
                    stored_checksum,
                ),
            )
        return answer

    def read(self, answer: Answer) -> bytes:
        """The body of a stored answer; DamagedAnswer (the answer set aside) if it cannot
        be read back whole."""
        try:
            with pa.input_stream(str(self.root / answer.path), compression="zstd") as stream:
                body = stream.read()
        except MemoryError:
            raise
        except (OSError, pa.ArrowException) as exc:
            if _machine_trouble(exc):  # the answer may be fine: not set aside
                raise
            raise self._set_aside(answer, f"unreadable ({exc})") from None
        if hashlib.sha256(body).hexdigest() != answer.checksum:
            raise self._set_aside(answer, "does not match its checksum")
        return body

    def _set_aside(self, answer: Answer, why: str) -> DamagedAnswer:
        """Move a damaged answer out of the zone and the manifest: the next run asks for it
        again, and nothing built later trips on it."""
        source, target = self.root / answer.path, self.root / DAMAGED / answer.path
        if source.exists():
            private_dir(target.parent)
            os.replace(source, target)
        with self._connection() as con:
            con.execute("DELETE FROM answers WHERE path = ?", (answer.path,))
        self.set_aside.append(answer)
        message = (
            f"raw answer {answer.path} ({answer.scope} {answer.first_day}..{answer.last_day}) "
            f"{why}: set aside in {target}; the next run asks for it again"
        )
        log.error(message)
        return DamagedAnswer(message)

    def file(self, answer: Answer) -> Path:
        """Where an answer's body is stored (zstd-compressed NDJSON or JSON)."""
        return self.root / answer.path

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
        if answer.stored_checksum is None:  # stored before files had their own checksum
            self.read(answer)  # the body's checksum, once
            stored = _file_sha256(self.file(answer))
            with self._connection() as con:
                con.execute(
                    "UPDATE answers SET stored_checksum = ? WHERE path = ?", (stored, answer.path)
                )
            return replace(answer, stored_checksum=stored)
        try:
            stored = _file_sha256(self.file(answer))
        except OSError as exc:
            if _machine_trouble(exc):
                raise
            raise self._set_aside(answer, f"unreadable ({exc})") from None
        if stored != answer.stored_checksum:
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
        query = (
            "SELECT * FROM answers WHERE api = ? AND dataset = ? "
            "AND first_day <= ? AND last_day >= ?"
        )
        params: list[object] = [api, dataset, last_day.isoformat(), first_day.isoformat()]
        if scope is not None:
            query += " AND scope = ?"
            params.append(scope)
        columns = (
            "api, dataset, scope, first_day, last_day, outcome, records, checksum, path, "
            "fetched_at, stored_checksum"
        )
        with self._connection() as con:
            rows = con.execute(
                query.replace("*", columns, 1) + " ORDER BY fetched_at", params
            ).fetchall()
        return [_answer(row) for row in rows]


def private_dir(path: Path) -> None:
    """Make a folder (and its missing parents) readable by its owner only."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    path.mkdir(parents=True, exist_ok=True)
    for folder in (path, *missing):
        folder.chmod(PRIVATE_DIR)


def _machine_trouble(exc: BaseException) -> bool:
    """An error of this machine (too many open files, a permission, a disk error), not of
    the stored bytes: a missing file or a failed decompression (no errno) are damage."""
    return isinstance(exc, OSError) and exc.errno not in (None, errno.ENOENT)


def _migrate(con: sqlite3.Connection) -> None:
    """Manifests written before `scope` named their scope column `id_pce`: renamed in place,
    in one write transaction (two processes may open an old manifest at once)."""
    con.execute("BEGIN IMMEDIATE")
    columns = {row[1] for row in con.execute("PRAGMA table_info(answers)")}
    if "id_pce" in columns:
        con.execute("DROP INDEX IF EXISTS answers_by_pce")
        con.execute("ALTER TABLE answers RENAME COLUMN id_pce TO scope")
    if columns and "stored_checksum" not in columns:  # filled as answers are verified
        con.execute("ALTER TABLE answers ADD COLUMN stored_checksum TEXT")


def _sqlite_files(path: Path) -> list[Path]:
    return [p for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()]


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _file_sha256(path: Path) -> str:
    with open(path, "rb") as stored:
        return hashlib.file_digest(stored, "sha256").hexdigest()


def _answer(row: tuple) -> Answer:
    api, dataset, scope, first, last, outcome, records, checksum, path, fetched, stored = row
    return Answer(
        api,
        dataset,
        scope,
        date.fromisoformat(first),
        date.fromisoformat(last),
        outcome,
        int(records),
        checksum,
        path,
        datetime.fromisoformat(fetched),
        stored,
    )
