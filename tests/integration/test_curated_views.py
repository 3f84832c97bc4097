"""The curated ADICT views over rows landed through the warehouse's own store, checked
against hand-computed figures; and the catalog read by another process during landings."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
from warehouse.catalog import refresh_catalog, refresh_warehouse

from pipelines.partitions import month_key
from warehouse.adict import INFORMATIVE_CONSUMPTION, PUBLISHED_CONSUMPTION
from warehouse.build import last_gas_days, months_between
from warehouse.store import PartitionStore, TableSpec

ADICT = [INFORMATIVE_CONSUMPTION, PUBLISHED_CONSUMPTION]
T0 = datetime(2026, 10, 1, 12, tzinfo=UTC)
PROV, DEF = "Provisoire", "Définitive"


def informative(pce: str, day: date, energy: float, statut: str) -> dict[str, Any]:
    return {
        "pce": {"id_pce": pce},
        "consommation": {
            "journee_gaziere": day.isoformat(),
            "energie": energy,
            "statut_conso": statut,
        },
    }


def published(pce: str, first: date, last: date, energy: float, statut: str = DEF) -> dict:
    """A published block; a one-day block carries its journee_gaziere, as GRDF sends it."""
    start = datetime(first.year, first.month, first.day, 4, tzinfo=UTC)
    end = datetime(last.year, last.month, last.day, 4, tzinfo=UTC) + timedelta(days=1)
    return {
        "pce": {"id_pce": pce},
        "consommation": {
            "journee_gaziere": first.isoformat() if first == last else None,
            "date_debut_consommation": start.isoformat(),
            "date_fin_consommation": end.isoformat(),
            "energie": energy,
            "statut_conso": statut,
        },
    }


def land(home: Path, spec: TableSpec, records: list[dict], fetched_at: datetime) -> None:
    """One landing, as an asset run does it: rows go to the month of their (last) gas day."""
    table = spec.to_arrow(records, fetched_at)
    days = last_gas_days(table, "date_fin_consommation")
    store = PartitionStore(home / "warehouse", spec)
    with store.landing(months_between) as landing:
        landing.add(table, [month_key(d) for d in days])


def query(home: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


DAILY = (
    "SELECT id_pce, journee_gaziere::VARCHAR, energie, statut_conso, definitive, source "
    "FROM adict.daily_consumption ORDER BY ALL"
)


def test_the_definitive_value_beats_provisional_ones_and_published_beats_informative(
    tmp_path: Path,
) -> None:
    sep = [date(2026, 9, d) for d in range(1, 5)]
    land(
        tmp_path,
        INFORMATIVE_CONSUMPTION,
        [informative("A", d, 10.0 * d.day, PROV) for d in sep],
        T0,
    )
    land(
        tmp_path,
        PUBLISHED_CONSUMPTION,
        [
            published("A", sep[1], sep[1], 21.0),  # definitive, older than the provisional
            published("A", sep[3], sep[3], 42.0),
            published("A", sep[2], sep[2], 33.0, PROV),  # provisional published, older
            published("B", sep[0], date(2026, 9, 30), 900.0),  # a monthly meter's block
        ],
        T0 - timedelta(days=1),
    )
    # The next day GRDF restates day 1 and day 4 as definitive (day 4 also published).
    later = T0 + timedelta(days=1)
    restated = [informative("A", sep[0], 11.0, DEF), informative("A", sep[3], 41.0, DEF)]
    land(tmp_path, INFORMATIVE_CONSUMPTION, restated, later)
    assert "adict.daily_consumption" in refresh_catalog(tmp_path, ADICT)

    assert query(tmp_path, DAILY) == [
        ("A", "2026-09-01", 11.0, DEF, True, "informative_consumption"),
        ("A", "2026-09-02", 21.0, DEF, True, "published_consumption"),
        ("A", "2026-09-03", 30.0, PROV, False, "informative_consumption"),  # the latest provisional
        ("A", "2026-09-04", 42.0, DEF, True, "published_consumption"),  # the billing reference
    ]
    assert query(
        tmp_path,
        "SELECT fetched_at FROM adict.daily_consumption WHERE journee_gaziere = '2026-09-01'",
    ) == [(later,)]


def test_a_restated_day_is_counted_once(tmp_path: Path) -> None:
    days = [date(2026, 8, 30), date(2026, 8, 31), date(2026, 9, 1)]
    land(tmp_path, INFORMATIVE_CONSUMPTION, [informative("A", d, 100.0, PROV) for d in days], T0)
    # Re-fetched a day later: the three days again, the August ones now definitive.
    land(
        tmp_path,
        INFORMATIVE_CONSUMPTION,
        [
            informative("A", days[0], 90.0, DEF),
            informative("A", days[1], 95.0, DEF),
            informative("A", days[2], 120.0, PROV),
        ],
        T0 + timedelta(days=1),
    )
    land(tmp_path, PUBLISHED_CONSUMPTION, [published("A", days[1], days[1], 95.0)], T0)
    refresh_catalog(tmp_path, ADICT)

    assert query(tmp_path, "SELECT count(*), sum(energie) FROM adict.daily_consumption") == [
        (3, 305.0)
    ]
    assert query(
        tmp_path,
        "SELECT month, energie, days, definitive_days FROM adict.monthly_consumption ORDER BY month",
    ) == [("2026-08", 185.0, 2, 2), ("2026-09", 120.0, 1, 0)]


def test_monthly_sums_count_days_and_definitive_days(tmp_path: Path) -> None:
    def energy(pce: str, d: date) -> float:
        return (2.0 if pce == "B" else 1.0) * d.day

    # A: all of February 2026, definitive up to the 20th; B: Feb 27 to Mar 3, provisional.
    a_days = [date(2026, 2, 1) + timedelta(days=n) for n in range(28)]
    b_days = [date(2026, 2, 27) + timedelta(days=n) for n in range(5)]
    rows = [informative("A", d, energy("A", d), DEF if d.day <= 20 else PROV) for d in a_days]
    rows += [informative("B", d, energy("B", d), PROV) for d in b_days]
    land(tmp_path, INFORMATIVE_CONSUMPTION, rows, T0)
    land(tmp_path, PUBLISHED_CONSUMPTION, [published("B", b_days[-1], b_days[-1], 7.0)], T0)
    refresh_catalog(tmp_path, ADICT)

    sql = (
        "SELECT id_pce, month, energie, days, definitive_days, days_in_month, "
        "first_day::VARCHAR, last_day::VARCHAR FROM adict.monthly_consumption ORDER BY ALL"
    )
    assert query(tmp_path, sql) == [
        ("A", "2026-02", float(sum(range(1, 29))), 28, 20, 28, "2026-02-01", "2026-02-28"),
        ("B", "2026-02", 2.0 * (27 + 28), 2, 0, 28, "2026-02-27", "2026-02-28"),
        ("B", "2026-03", 2.0 * (1 + 2) + 7.0, 3, 1, 31, "2026-03-01", "2026-03-03"),
    ]
    # Totals agree with the daily view, which a BI user may sum instead.
    assert query(
        tmp_path,
        "SELECT (SELECT sum(energie) FROM adict.daily_consumption) = "
        "(SELECT sum(energie) FROM adict.monthly_consumption)",
    ) == [(True,)]


def test_curated_views_wait_for_their_sources(tmp_path: Path) -> None:
    assert refresh_warehouse(tmp_path) == []
    land(tmp_path, INFORMATIVE_CONSUMPTION, [informative("A", date(2026, 9, 1), 1.0, PROV)], T0)
    assert refresh_warehouse(tmp_path) == ["adict.informative_consumption"]
    land(
        tmp_path,
        PUBLISHED_CONSUMPTION,
        [published("A", date(2026, 9, 1), date(2026, 9, 1), 1.0)],
        T0,
    )
    assert refresh_warehouse(tmp_path) == [
        "adict.informative_consumption",
        "adict.published_consumption",
        "adict.daily_consumption",
        "adict.monthly_consumption",
    ]


READER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    import duckdb

    catalog, stop = sys.argv[1], Path(sys.argv[2])
    print("ready", flush=True)
    while not stop.exists():
        try:
            with duckdb.connect(catalog, read_only=True) as con:
                row = con.execute(
                    "SELECT count(*), sum(energie) FROM adict.daily_consumption"
                ).fetchone()
            print(json.dumps({"count": row[0], "energy": row[1]}), flush=True)
        except Exception as error:  # reported to the test, which fails on it
            print(json.dumps({"error": repr(error)}), flush=True)
        time.sleep(0.005)
    """
)

PCES = [f"{n:014d}" for n in range(30)]


def land_round(home: Path, round_: int) -> None:
    """Even rounds add a new gas day for every PCE; odd ones restate the previous day as
    definitive with another energy. Each round rewrites one month file."""
    day = date(2026, 9, 1) + timedelta(days=round_ // 2)
    statut, energy = (PROV, 10.0) if round_ % 2 == 0 else (DEF, 12.0)
    rows = [informative(pce, day, energy, statut) for pce in PCES]
    land(home, INFORMATIVE_CONSUMPTION, rows, T0 + timedelta(minutes=round_))
    refresh_catalog(home, ADICT)


def test_another_process_reading_during_landings_sees_whole_states(tmp_path: Path) -> None:
    land(
        tmp_path,
        PUBLISHED_CONSUMPTION,
        [published("X", date(2026, 8, 1), date(2026, 8, 31), 5.0)],
        T0,
    )
    land_round(tmp_path, 0)
    # Every state a reader may see: after round k, (k // 2 + 1) days, the last one
    # provisional at 10 when k is even, all definitive at 12 otherwise.
    rounds = 24
    states = {
        (len(PCES) * (k // 2 + 1), len(PCES) * 12.0 * (k // 2 + 1) - (k % 2 == 0) * len(PCES) * 2.0)
        for k in range(rounds)
    }

    stop = tmp_path / "stop"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(tmp_path / "warehouse.duckdb"), str(stop)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert reader.stdout is not None and reader.stdout.readline().strip() == "ready"
        for k in range(1, rounds):
            land_round(tmp_path, k)
            time.sleep(0.02)  # let the reader see most states
    finally:
        stop.touch()
        out, _ = reader.communicate(timeout=30)
    reads = [json.loads(line) for line in out.splitlines()]
    assert [r for r in reads if "error" in r] == []
    seen = {(r["count"], r["energy"]) for r in reads}
    assert seen <= states
    assert len(reads) >= 20 and len(seen) >= 3  # the reads did overlap the landings
