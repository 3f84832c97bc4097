"""The raw zone's manifest: written before `scope` existed, read the same after."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

from warehouse.raw import RawZone

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
