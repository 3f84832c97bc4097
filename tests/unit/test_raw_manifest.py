"""The raw zone's manifest: written before `scope` existed, read the same after; what is
damage and what is not."""

from __future__ import annotations

import errno
import sqlite3
from datetime import date
from pathlib import Path

import pytest

from warehouse.raw import Answer, AnswerFiles, RawZone

OLD_SCHEMA = """
CREATE TABLE answers (
    api TEXT NOT NULL, dataset TEXT NOT NULL, id_pce TEXT NOT NULL,
    first_day TEXT NOT NULL, last_day TEXT NOT NULL,
    outcome TEXT NOT NULL, records INTEGER NOT NULL,
    checksum TEXT NOT NULL, path TEXT NOT NULL, fetched_at TEXT NOT NULL
);
CREATE INDEX answers_by_pce ON answers (api, dataset, id_pce, first_day);
"""


def test_a_manifest_with_an_id_pce_column_is_migrated_in_place(tmp_path: Path) -> None:
    manifest = tmp_path / "state" / "raw.sqlite"
    manifest.parent.mkdir(parents=True)
    with sqlite3.connect(manifest) as con:
        con.executescript(OLD_SCHEMA)
        con.execute(
            "INSERT INTO answers VALUES ('ingrid', 'daily_measures', 'GRT-SHP-0001', "
            "'2026-10-01', '2026-10-31', 'data', 3, 'c', 'p.json.zst', "
            "'2026-11-01T12:00:00+00:00')"
        )
    raw = RawZone(tmp_path)
    (answer,) = raw.answers("ingrid", "daily_measures", "GRT-SHP-0001")
    assert (answer.scope, answer.first_day) == ("GRT-SHP-0001", date(2026, 10, 1))
    with sqlite3.connect(manifest) as con:
        columns = [row[1] for row in con.execute("PRAGMA table_info(answers)")]
    assert "scope" in columns and "id_pce" not in columns
    RawZone(tmp_path)  # opening it again changes nothing


def _put(raw: RawZone) -> Answer:
    day = date(2026, 10, 1)
    return raw.put("adict", "informative_consumption", "GI000001", day, day, b"{}\n", "data", 1)


def test_a_file_out_of_reach_is_this_machines_trouble_not_damage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = RawZone(tmp_path)
    answer = _put(raw)

    def too_many_open_files(files: AnswerFiles, relative: str) -> bytes:
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr(AnswerFiles, "read", too_many_open_files)
    with pytest.raises(OSError, match="Too many open files"):
        raw.verified([answer])
    assert raw.set_aside == [] and raw.answers("adict", "informative_consumption") == [answer]


def test_an_answer_stored_before_its_file_checksum_gets_one_when_verified(
    tmp_path: Path,
) -> None:
    raw = RawZone(tmp_path)
    answer = _put(raw)
    with sqlite3.connect(tmp_path / "state" / "raw.sqlite") as con:
        con.execute("UPDATE answers SET stored_checksum = NULL")
    (old,) = raw.answers("adict", "informative_consumption")
    assert old.stored_checksum is None
    assert raw.verified([old]) == [answer]
    assert raw.answers("adict", "informative_consumption") == [answer]
