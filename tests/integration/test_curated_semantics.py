"""What the curated tables mean, checked against hand-computed figures: rows are landed
through the sources' own specs and landings, `update_curated` brings the curated tables up
to date, and the figures are read back from the curated tables. Each landing scenario runs
twice: one update after all the landings (the build), and one update after each landing
(the incremental path), which must end in the same figures. Also: the header rules of the
SQL files, and curated tables waiting for their sources.

(Ported from the tests of the former curated views, tests/unit/test_views.py and
tests/integration/test_curated_views.py.)"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pyarrow as pa
import pytest

from resources.ingrid_endpoints import TABLES as INGRID
from tests.warehouse_reader import query
from warehouse import curated
from warehouse.adict import INFORMATIVE_CONSUMPTION, PUBLISHED_CONSUMPTION
from warehouse.build import last_gas_days, months_between
from warehouse.curated import UpdateResult, curated_tables, parse_table, update_curated
from warehouse.gasday import month_key
from warehouse.lake import Lake
from warehouse.lake_table import LakeTable
from warehouse.sfm import FLEXIBILITY_INDICATORS as INDICATORS
from warehouse.store import TableSpec

T0 = datetime(2026, 10, 1, 12, tzinfo=UTC)
PROV, DEF = "Provisoire", "Définitive"
DAILY, MONTHLY = "adict.daily_consumption", "adict.monthly_consumption"
BALANCE, TIMELINE = "ingrid.daily_balance", "sfm.indicator_timeline"
MEASURES, ALLOCATIONS = INGRID["daily_measures"], INGRID["daily_allocations"]
FORECASTS, IMBALANCES = INGRID["daily_contractual_forecasts"], INGRID["daily_imbalances"]


class Warehouse:
    """A home's lake, landed as the assets land it; with `after_each_landing`, the curated
    tables are updated after every landing too."""

    def __init__(self, home: Path, after_each_landing: bool) -> None:
        self.home, self.lake = home, Lake.at(home)
        self.after_each_landing = after_each_landing

    def land_table(self, spec: TableSpec, table: pa.Table, months: Sequence[str]) -> None:
        with LakeTable(self.lake, spec).landing(months_between) as landing:
            landing.add(table, months)
        if self.after_each_landing:
            self.update()

    def land_adict(self, spec: TableSpec, records: list[dict], fetched_at: datetime) -> None:
        """Upstream-shaped ADICT records; rows go to the month of their (last) gas day."""
        table = spec.to_arrow(records, fetched_at)
        days = last_gas_days(table, "date_fin_consommation")
        self.land_table(spec, table, [month_key(d) for d in days])

    def land_rows(self, spec: TableSpec, rows: list[dict], month: str = "2026-09") -> None:
        """Rows given by column name (Ingrid, SFM: each column reads one upstream field)."""
        records = [{c.path[0]: row.get(c.name) for c in spec.columns} for row in rows]
        self.land_table(spec, spec.to_arrow(records, T0), [month] * len(rows))

    def update(self) -> dict[str, UpdateResult]:
        return update_curated(self.lake)

    def query(self, sql: str) -> list[tuple]:
        return query(self.home, sql)


@pytest.fixture(params=[False, True], ids=["updated-once", "updated-after-each-landing"])
def warehouse(home: Path, request: pytest.FixtureRequest) -> Warehouse:
    return Warehouse(home, after_each_landing=request.param)


# --- the header rules of the SQL files ----------------------------------------------------


def test_every_shipped_table_names_its_sources() -> None:
    tables = {t.name: t for t in curated_tables()}
    assert set(tables) == {DAILY, MONTHLY, BALANCE, TIMELINE}
    assert tables[MONTHLY].sources == (DAILY,)


def test_a_table_without_a_sources_line_is_refused() -> None:
    with pytest.raises(ValueError, match="sources"):
        parse_table("x.y", "SELECT 1")


def sql_file(folder: Path, name: str, sources: str) -> None:
    """A curated table copying its first source's rows (`k`, `v`) of the changed keys."""
    first = sources.split(",")[0]
    (folder / f"{name}.sql").write_text(
        f"-- sources: {sources}\n-- recomputed by: k\n-- one row per: k\n"
        f"SELECT k, v FROM {first} SEMI JOIN changed_keys USING (k)",
        "utf-8",
    )


def test_tables_are_built_dependencies_first_and_wait_without_sources(
    home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # s.a_top reads s.b_middle, which reads s.base; s.c_other also reads s.missing. File
    # names put the dependent table first.
    package = tmp_path / "package"
    folder = package / "curated"
    folder.mkdir(parents=True)
    sql_file(folder, "s.a_top", "s.b_middle")
    sql_file(folder, "s.b_middle", "s.base")
    sql_file(folder, "s.c_other", "s.base, s.missing")
    monkeypatch.setattr(curated, "resources", SimpleNamespace(files=lambda _: package))
    order = [t.name for t in curated_tables()]
    assert order.index("s.b_middle") < order.index("s.a_top")

    lake = Lake.at(home)
    actions = {name: r.action for name, r in update_curated(lake).items()}
    assert actions == {"s.a_top": "waiting", "s.b_middle": "waiting", "s.c_other": "waiting"}

    con = lake.open()
    try:
        lake.write(con, lambda c: c.execute("CREATE SCHEMA lake.s"))
        lake.write(con, lambda c: c.execute("CREATE TABLE lake.s.base AS SELECT 1 AS k, 2 AS v"))
    finally:
        con.close()
    actions = {name: r.action for name, r in update_curated(lake).items()}
    assert actions == {"s.a_top": "built", "s.b_middle": "built", "s.c_other": "waiting"}
    assert query(home, "FROM s.a_top") == [(1, 2)]


# --- ADICT: the daily and monthly consumption ---------------------------------------------


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


DAILY_ROWS = (
    "SELECT id_pce, journee_gaziere::VARCHAR, energie, statut_conso, definitive, source "
    f"FROM {DAILY} ORDER BY ALL"
)


def test_the_definitive_value_beats_provisional_ones_and_published_beats_informative(
    warehouse: Warehouse,
) -> None:
    sep = [date(2026, 9, d) for d in range(1, 5)]
    warehouse.land_adict(
        INFORMATIVE_CONSUMPTION, [informative("A", d, 10.0 * d.day, PROV) for d in sep], T0
    )
    warehouse.land_adict(
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
    warehouse.land_adict(INFORMATIVE_CONSUMPTION, restated, later)
    warehouse.update()

    assert warehouse.query(DAILY_ROWS) == [
        ("A", "2026-09-01", 11.0, DEF, True, "informative_consumption"),
        ("A", "2026-09-02", 21.0, DEF, True, "published_consumption"),
        ("A", "2026-09-03", 30.0, PROV, False, "informative_consumption"),  # the latest provisional
        ("A", "2026-09-04", 42.0, DEF, True, "published_consumption"),  # the billing reference
    ]
    assert warehouse.query(
        f"SELECT fetched_at FROM {DAILY} WHERE journee_gaziere = '2026-09-01'"
    ) == [(later,)]


def test_a_restated_day_is_counted_once(warehouse: Warehouse) -> None:
    days = [date(2026, 8, 30), date(2026, 8, 31), date(2026, 9, 1)]
    warehouse.land_adict(
        INFORMATIVE_CONSUMPTION, [informative("A", d, 100.0, PROV) for d in days], T0
    )
    # Re-fetched a day later: the three days again, the August ones now definitive.
    warehouse.land_adict(
        INFORMATIVE_CONSUMPTION,
        [
            informative("A", days[0], 90.0, DEF),
            informative("A", days[1], 95.0, DEF),
            informative("A", days[2], 120.0, PROV),
        ],
        T0 + timedelta(days=1),
    )
    warehouse.land_adict(PUBLISHED_CONSUMPTION, [published("A", days[1], days[1], 95.0)], T0)
    warehouse.update()

    assert warehouse.query(f"SELECT count(*), sum(energie) FROM {DAILY}") == [(3, 305.0)]
    assert warehouse.query(
        f"SELECT month, energie, days, definitive_days FROM {MONTHLY} ORDER BY month"
    ) == [("2026-08", 185.0, 2, 2), ("2026-09", 120.0, 1, 0)]


def test_monthly_sums_count_days_and_definitive_days(warehouse: Warehouse) -> None:
    def energy(pce: str, d: date) -> float:
        return (2.0 if pce == "B" else 1.0) * d.day

    # A: all of February 2026, definitive up to the 20th; B: Feb 27 to Mar 3, provisional.
    a_days = [date(2026, 2, 1) + timedelta(days=n) for n in range(28)]
    b_days = [date(2026, 2, 27) + timedelta(days=n) for n in range(5)]
    rows = [informative("A", d, energy("A", d), DEF if d.day <= 20 else PROV) for d in a_days]
    rows += [informative("B", d, energy("B", d), PROV) for d in b_days]
    warehouse.land_adict(INFORMATIVE_CONSUMPTION, rows, T0)
    warehouse.land_adict(PUBLISHED_CONSUMPTION, [published("B", b_days[-1], b_days[-1], 7.0)], T0)
    warehouse.update()

    sql = (
        "SELECT id_pce, month, energie, days, definitive_days, days_in_month, "
        f"first_day::VARCHAR, last_day::VARCHAR FROM {MONTHLY} ORDER BY ALL"
    )
    assert warehouse.query(sql) == [
        ("A", "2026-02", float(sum(range(1, 29))), 28, 20, 28, "2026-02-01", "2026-02-28"),
        ("B", "2026-02", 2.0 * (27 + 28), 2, 0, 28, "2026-02-27", "2026-02-28"),
        ("B", "2026-03", 2.0 * (1 + 2) + 7.0, 3, 1, 31, "2026-03-01", "2026-03-03"),
    ]
    # Totals agree with the daily table, which a BI user may sum instead.
    assert warehouse.query(
        f"SELECT (SELECT sum(energie) FROM {DAILY}) = (SELECT sum(energie) FROM {MONTHLY})"
    ) == [(True,)]


def test_curated_tables_wait_for_their_sources(home: Path) -> None:
    warehouse = Warehouse(home, after_each_landing=False)
    assert {r.action for r in warehouse.update().values()} == {"waiting"}
    warehouse.land_adict(
        INFORMATIVE_CONSUMPTION, [informative("A", date(2026, 9, 1), 1.0, PROV)], T0
    )
    results = warehouse.update()
    assert (results[DAILY].action, results[MONTHLY].action) == ("waiting", "waiting")
    warehouse.land_adict(
        PUBLISHED_CONSUMPTION, [published("A", date(2026, 9, 1), date(2026, 9, 1), 1.0)], T0
    )
    results = warehouse.update()
    assert (results[DAILY].action, results[MONTHLY].action) == ("built", "built")
    assert (results[BALANCE].action, results[TIMELINE].action) == ("waiting", "waiting")
    assert warehouse.query(
        "SELECT schema_name || '.' || table_name FROM duckdb_tables() "
        "WHERE database_name = 'lake' AND schema_name <> 'gazoduc' ORDER BY ALL"
    ) == [
        (DAILY,),
        ("adict.informative_consumption",),
        (MONTHLY,),
        ("adict.published_consumption",),
    ]


# --- Ingrid and SFM -----------------------------------------------------------------------


def test_the_daily_balance_puts_each_gas_day_side_by_side(warehouse: Warehouse) -> None:
    d1, d2 = date(2026, 9, 1), date(2026, 9, 2)
    warehouse.land_rows(MEASURES, [
        {"gas_day": d1, "point_code": "P1", "quantity": 100.0, "unit": "kWh", "status": "V"},
        {"gas_day": d1, "point_code": "P2", "quantity": 50.0, "unit": "kWh", "status": "V"},
        {"gas_day": d2, "point_code": "P1", "quantity": 70.0, "unit": "kWh", "status": "P"},
    ])  # fmt: skip
    warehouse.land_rows(ALLOCATIONS, [
        {"gas_day": d1, "point_code": "P1", "allocated_quantity": 98.0, "unit": "kWh", "status": "D"},
        {"gas_day": d1, "point_code": "P2", "allocated_quantity": 52.0, "unit": "kWh", "status": "P"},
    ])  # fmt: skip
    warehouse.land_rows(FORECASTS, [
        {"gas_day": d1, "point_code": "P1", "forecast_quantity": 140.0, "unit": "kWh",
         "forecast_date_time": T0},
    ])  # fmt: skip
    warehouse.land_rows(IMBALANCES, [
        {"gas_day": d1, "balancing_zone": "TRF", "allocated_quantity": 150.0,
         "forecast_quantity": 140.0, "imbalance_quantity": 10.0, "tolerance_quantity": 5.0,
         "unit": "kWh", "status": "D"},
    ])  # fmt: skip
    warehouse.update()

    sql = (
        "SELECT gas_day::VARCHAR, measured_quantity, allocated_quantity, forecast_quantity, "
        "allocated_minus_forecast, imbalance_quantity, outside_tolerance, allocation_statuses "
        f"FROM {BALANCE} ORDER BY gas_day"
    )
    assert warehouse.query(sql) == [
        ("2026-09-01", 150.0, 150.0, 140.0, 10.0, 10.0, True, "D, P"),
        ("2026-09-02", 70.0, None, None, None, None, None, None),
    ]


def test_the_indicator_timeline_keeps_changes_with_their_intervals(warehouse: Warehouse) -> None:
    def capture(hour: int, plus: str, side: str = "current", applies: int | None = None) -> dict:
        """A capture at hour:52 UTC; Q -> Q+ applies at hour+1:15 unless told."""
        at = datetime(2026, 9, 1, hour, 52, tzinfo=UTC)
        applied = datetime(2026, 9, 1, applies if applies is not None else hour + 1, 15, tzinfo=UTC)
        return {
            "captured_at": at, "gas_day": date(2026, 9, 1), "indicator": side,
            "site_id": "LI1234", "site_label": "Site", "mesh_code": "ME0008",
            "mesh_label": "Provence", "q_to_0_status": "GREEN",
            "q_to_0_availability_date_time": datetime(2026, 9, 1, 2, 52, tzinfo=UTC),
            "q_to_0_application_date_time": datetime(2026, 9, 1, 3, 15, tzinfo=UTC),
            "q_to_qmax_status": plus, "q_to_qmax_availability_date_time": at,
            "q_to_qmax_application_date_time": applied,
        }  # fmt: skip

    rows = [capture(2, "GREEN"), capture(7, "GREEN"), capture(8, "RED"), capture(9, "GREEN")]
    # An announced next state superseded by a later capture for the same application time.
    rows += [capture(8, "RED", "next", applies=10)]
    warehouse.land_rows(INDICATORS, rows)
    warehouse.update()

    sql = (
        "SELECT indicator, status, previous_status, hour(valid_from), hour(valid_to), "
        f"gas_day::VARCHAR FROM {TIMELINE} ORDER BY indicator, valid_from"
    )
    # 03:15 UTC is 05:15 in Paris: still the previous gas day.
    assert warehouse.query(sql) == [
        ("q_to_0", "GREEN", None, 3, None, "2026-08-31"),
        ("q_to_qmax", "GREEN", None, 3, 9, "2026-08-31"),
        ("q_to_qmax", "RED", "GREEN", 9, 10, "2026-09-01"),
        ("q_to_qmax", "GREEN", "RED", 10, None, "2026-09-01"),
    ]


def test_the_daily_balance_waits_for_all_its_sources(home: Path) -> None:
    warehouse = Warehouse(home, after_each_landing=False)
    warehouse.land_rows(
        MEASURES, [{"gas_day": date(2026, 9, 1), "point_code": "P1", "quantity": 1.0}]
    )
    assert warehouse.update()[BALANCE].action == "waiting"
    assert warehouse.query(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = 'lake' "
        "AND schema_name = 'ingrid' ORDER BY ALL"
    ) == [("daily_measures",)]
