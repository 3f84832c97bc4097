"""The raw zone: every answered call's body, stored once, compressed, with a manifest.

Quota is what is scarce, so an answer is never asked for twice: each body lands under
`$GAZODUC_HOME/raw/<api>/<dataset>/<id_pce>/` (zstd) before anything is built from it,
and a manifest row in `$GAZODUC_HOME/state/raw.sqlite` says what it answers. A run that
dies resumes from the manifest; curated tables are rebuilt from here, without a call
(`gazoduc reparse`).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    api TEXT NOT NULL, dataset TEXT NOT NULL, id_pce TEXT NOT NULL,
    first_day TEXT NOT NULL, last_day TEXT NOT NULL,
    outcome TEXT NOT NULL, records INTEGER NOT NULL,
    checksum TEXT NOT NULL, path TEXT NOT NULL, fetched_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS answers_by_pce ON answers (api, dataset, id_pce, first_day);
"""


@dataclass(frozen=True)
class Answer:
    """One stored answer: which request it answers, what it said, where its body is."""

    api: str
    dataset: str
    id_pce: str
    first_day: date
    last_day: date
    outcome: str  # data, no_data, not_allowed
    records: int
    checksum: str
    path: str  # relative to the raw zone
    fetched_at: datetime


class RawZone:
    def __init__(self, home: Path) -> None:
        self.root = home / "raw"
        self.manifest = home / "state" / "raw.sqlite"
        self.manifest.parent.mkdir(parents=True, exist_ok=True)
        with self._connection() as con:
            con.executescript(_SCHEMA)
            con.execute("PRAGMA journal_mode=WAL")

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
        id_pce: str,
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
            f"{api}/{dataset}/{id_pce}/{first_day}_{last_day}_{uuid.uuid4().hex[:12]}.json.zst"
        )
        target = self.root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        with pa.CompressedOutputStream(str(tmp), "zstd") as out:
            out.write(body)
        _fsync(tmp)  # on disk before the manifest says so: a power cut loses no answer
        os.replace(tmp, target)
        _fsync(target.parent)
        answer = Answer(
            api,
            dataset,
            id_pce,
            first_day,
            last_day,
            outcome,
            records,
            hashlib.sha256(body).hexdigest(),
            relative,
            fetched_at,
        )
        with self._connection() as con:
            con.execute(
                "INSERT INTO answers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    api,
                    dataset,
                    id_pce,
                    first_day.isoformat(),
                    last_day.isoformat(),
                    outcome,
                    records,
                    answer.checksum,
                    relative,
                    fetched_at.isoformat(),
                ),
            )
        return answer

    def read(self, answer: Answer) -> bytes:
        with pa.input_stream(str(self.root / answer.path), compression="zstd") as stream:
            body = stream.read()
        if hashlib.sha256(body).hexdigest() != answer.checksum:
            raise ValueError(f"raw answer {answer.path} does not match its checksum")
        return body

    def answers(
        self,
        api: str,
        dataset: str,
        id_pce: str | None = None,
        first_day: date = date.min,
        last_day: date = date.max,
    ) -> list[Answer]:
        """Answers overlapping [first_day, last_day], oldest first."""
        query = (
            "SELECT * FROM answers WHERE api = ? AND dataset = ? "
            "AND first_day <= ? AND last_day >= ?"
        )
        params: list[object] = [api, dataset, last_day.isoformat(), first_day.isoformat()]
        if id_pce is not None:
            query += " AND id_pce = ?"
            params.append(id_pce)
        with self._connection() as con:
            rows = con.execute(query + " ORDER BY fetched_at", params).fetchall()
        return [_answer(row) for row in rows]


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _answer(row: tuple) -> Answer:
    api, dataset, id_pce, first, last, outcome, records, checksum, path, fetched = row
    return Answer(
        api,
        dataset,
        id_pce,
        date.fromisoformat(first),
        date.fromisoformat(last),
        outcome,
        int(records),
        checksum,
        path,
        datetime.fromisoformat(fetched),
    )
