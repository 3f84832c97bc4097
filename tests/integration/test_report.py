"""`gazoduc report` on a small crafted warehouse whose figures are computed by hand."""

from __future__ import annotations

import base64
import itertools
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

import resources.quota
from pipelines.report import CHART_FILES, REPORT_FILE, report_main, write_report
from resources.quota import PARIS, QuotaLedger, QuotaLimits, ledger_path
from resources.warehouse import ALL_TABLES
from warehouse.adict import (
    ACCESS_RIGHTS,
    CONTRACTUAL_DATA,
    INFORMATIVE_CONSUMPTION,
    PUBLISHED_CONSUMPTION,
    PUBLISHED_INJECTION,
)
from warehouse.lake import Lake
from warehouse.lake_table import LakeTable, session
from warehouse.landing import create_table
from warehouse.maintenance import SMALL_LANDING_ROWS
from warehouse.raw import RawZone
from warehouse.store import TableSpec

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FETCHED_AT = datetime(2026, 11, 23, 14, 30, tzinfo=UTC)  # 15:30 in Paris
PERSONAL_VALUES = ("Jeanne Martin", "jeanne@example.org", "0612345678")


class Tables(HTMLParser):
    """The page's tables as lists of rows of cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def rows_of(page: str) -> list[list[str]]:
    parser = Tables()
    parser.feed(page)
    return [row for table in parser.tables for row in table]


def land(home: Path, spec: TableSpec, records: Sequence[dict], keys: Sequence[str]) -> None:
    table = spec.to_arrow(records, FETCHED_AT, keep_personal=True)
    with LakeTable(Lake.at(home), spec).landing(lambda a, b: []) as landing:
        landing.add(table, keys)


def informative(pce: str, day: str, kwh: float) -> dict:
    return {"pce": {"id_pce": pce}, "consommation": {"journee_gaziere": day, "energie": kwh}}


def right(pce: str, name: str, mail: str, phone: str) -> dict:
    return {
        "id_droit_acces": f"r-{pce}",
        "id_pce": pce,
        "nom_titulaire": name,
        "courriel_titulaire": mail,
        "numero_telephone_mobile_titulaire": phone,
        "etat_droit_acces": "Active",
    }


def land_warehouse(home: Path) -> None:
    # Informative: A 10 kWh on 2 September days and 3 October days, B 5 kWh on 3 October days.
    days_a = ["2026-09-29", "2026-09-30", "2026-10-01", "2026-10-02", "2026-10-03"]
    records = [informative("A", d, 10.0) for d in days_a]
    records += [informative("B", d, 5.0) for d in days_a[2:]]
    land(
        home,
        INFORMATIVE_CONSUMPTION,
        records,
        [r["consommation"]["journee_gaziere"][:7] for r in records],
    )
    # Published: one September block of 300 kWh, 06:00 to 06:00 Paris: 10 kWh per gas day.
    block = {
        "pce": {"id_pce": "A"},
        "consommation": {
            "date_debut_consommation": "2026-09-01T06:00:00+02:00",
            "date_fin_consommation": "2026-10-01T06:00:00+02:00",
            "energie": 300.0,
        },
    }
    land(home, PUBLISHED_CONSUMPTION, [block], ["2026-09"])
    # Rights landed with the holders' personal data (the operator's opt-in).
    rights = [
        right("A", PERSONAL_VALUES[0], PERSONAL_VALUES[1], PERSONAL_VALUES[2]),
        right("B", "Paul Durand", "paul@example.org", "0698765432"),
    ]
    land(home, ACCESS_RIGHTS, rights, ["2026-11-23"] * 2)
    # A table that holds no row.
    lake = Lake.at(home)
    lake.write(session(lake), lambda con: create_table(con, CONTRACTUAL_DATA))
    raw = RawZone(home)
    for pce, outcome, records in (("A", "data", 5), ("B", "data", 3), ("C", "no_data", 0)):
        raw.put(
            "adict",
            "informative_consumption",
            pce,
            date(2026, 9, 29),
            date(2026, 10, 3),
            b"{}",
            outcome,
            records,
        )


def paris_noon(day: date) -> float:
    return datetime(day.year, day.month, day.day, 12, tzinfo=PARIS).timestamp()


def fill_ledger(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """client-a: 2 calls on the 22nd, 3 and a rejection on the 23rd; client-b: 1 on the 23rd."""
    ticks = itertools.count()
    day = {"start": paris_noon(date(2026, 11, 22))}
    monkeypatch.setattr(resources.quota, "clock", lambda: day["start"] + next(ticks))
    path, limits = ledger_path(home / "state"), QuotaLimits(1000.0, 50)
    a = QuotaLedger(path, "adict", "client-a", limits)
    b = QuotaLedger(path, "adict", "client-b", limits)
    for _ in range(2):
        a.acquire()
    day["start"] = paris_noon(date(2026, 11, 23))
    for _ in range(3):
        a.acquire()
    b.acquire()
    a.rejected(
        429, "<script>alert('quota')</script> someone else uses this client id", per_second=True
    )


@pytest.fixture
def page(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    land_warehouse(home)
    fill_ledger(home, monkeypatch)
    monkeypatch.setenv("ADICT_CALLS_PER_DAY", "50")
    path = write_report(home, tmp_path / "out")
    assert path == tmp_path / "out" / REPORT_FILE
    return path.read_text(encoding="utf-8")


def test_the_page_shows_each_table_with_its_rows_pces_and_last_fetch(page: str) -> None:
    rows = rows_of(page)
    last_fetch = "2026-11-23 15:30 Europe/Paris"
    assert [
        "adict.informative_consumption",
        "landed",
        "8",
        "2",
        "2026-09 … 2026-10",
        last_fetch,
    ] in rows
    assert [
        "adict.published_consumption",
        "landed",
        "1",
        "1",
        "2026-09 … 2026-09",
        last_fetch,
    ] in rows
    assert ["adict.access_rights", "landed", "2", "2", "2026-11 … 2026-11", last_fetch] in rows
    assert "adict.contractual_data: empty table." in page
    assert "warehouse (Parquet)" in page


def test_the_raw_zone_counts_answers_per_outcome(page: str) -> None:
    answers = [row[:5] for row in rows_of(page) if row[:2] == ["adict", "informative_consumption"]]
    assert answers == [
        ["adict", "informative_consumption", "data", "2", "8"],
        ["adict", "informative_consumption", "no_data", "1", "0"],
    ]


def test_coverage_gives_rows_and_pces_per_table_and_month(page: str) -> None:
    rows = rows_of(page)
    header = [
        "month",
        "adict.access_rights",
        "adict.informative_consumption",
        "adict.published_consumption",
    ]
    assert header in rows
    assert ["2026-11", "2 · 2", "", ""] in rows
    assert ["2026-10", "", "6 · 2", ""] in rows
    assert ["2026-09", "", "2 · 1", "1 · 1"] in rows


def test_energy_totals_per_month_spread_published_blocks_over_their_days(page: str) -> None:
    rows = rows_of(page)
    assert ["month", "informative consumption", "published consumption"] in rows
    assert ["2026-10", "45", "—"] in rows  # 3 x 10 + 3 x 5
    assert ["2026-09", "20", "300"] in rows  # 300 kWh over September's 30 gas days


def test_quota_per_paris_day_against_the_budget_with_rejections(page: str) -> None:
    rows = rows_of(page)
    assert ["2026-11-23", "adict", "client-a", "3", "50", "6.0%", "1"] in rows
    assert ["2026-11-23", "adict", "client-b", "1", "50", "2.0%", "0"] in rows
    assert ["2026-11-22", "adict", "client-a", "2", "50", "4.0%", "0"] in rows
    assert "<script>" not in page  # the server's text is escaped
    assert "&lt;script&gt;" in page


def test_charts_are_embedded_and_written_as_png_files(page: str, tmp_path: Path) -> None:
    embedded = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(embedded) == len(CHART_FILES) == 3
    assert all(base64.b64decode(b64).startswith(PNG_MAGIC) for b64 in embedded)
    for filename in CHART_FILES.values():
        assert (tmp_path / "out" / filename).read_bytes().startswith(PNG_MAGIC)


def test_no_personal_data_reaches_the_page(page: str) -> None:
    personal = {c.name for spec in ALL_TABLES for c in spec.columns if c.personal}
    assert {"nom_titulaire", "courriel_titulaire"} <= personal
    assert not [name for name in personal if name in page]
    assert not [value for value in PERSONAL_VALUES if value in page]


def test_an_empty_home_gives_a_page_saying_so(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out).mkdir()
    (out / "quota.png").write_bytes(PNG_MAGIC)  # left by an earlier report
    page = write_report(tmp_path / "nothing", out).read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "No warehouse in" in page
    assert "No calls recorded" in page
    assert "<img" not in page
    assert not list(out.glob("*.png"))


def test_damaged_state_files_are_reported_not_raised(tmp_path: Path) -> None:
    home = tmp_path / "damaged"
    (home / "state").mkdir(parents=True)
    (home / "warehouse.sqlite").write_bytes(b"not a catalog")
    ledger_path(home / "state").write_bytes(b"not a ledger")
    page = write_report(home, tmp_path / "out").read_text(encoding="utf-8")
    assert "The catalog cannot be opened" in page
    assert "No calls recorded" in page


def test_an_unreadable_table_is_reported_not_raised(home: Path, tmp_path: Path) -> None:
    land_warehouse(home)
    # More rows than DuckLake inlines in its catalog: they go to a Parquet file, lost here.
    records = [informative(f"{n:014d}", "2026-10-01", 1.0) for n in range(SMALL_LANDING_ROWS + 1)]
    land(home, PUBLISHED_INJECTION, records, ["2026-10"] * len(records))
    files = list((home / "warehouse" / "adict" / "published_injection").rglob("*.parquet"))
    assert files
    for file in files:
        file.unlink()
    page = write_report(home, tmp_path / "out").read_text(encoding="utf-8")
    assert "adict.published_injection: cannot be read" in page
    assert "adict.informative_consumption" in page  # the other tables are still reported
    assert ["adict.informative_consumption", "landed", "8", "2"] in [r[:4] for r in rows_of(page)]


def test_the_command_writes_into_the_home_by_default(home: Path) -> None:
    assert report_main([]) == 0
    assert (home / "report" / REPORT_FILE).exists()
