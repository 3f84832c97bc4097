"""Curated tables kept up to date from their sources' change feed: after every landing
each equals the former views' SQL (reference_views/) over the sources, row for row; an update
recomputes only the keys the landings changed, in one transaction a broken rule rolls
back; and Dagster updates a curated table after a source lands."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow as pa
import pytest

from assets.curated import CURATED_ASSETS, CURATED_CHECKS
from resources.ingrid_endpoints import TABLES as INGRID
from resources.warehouse import WarehouseResource
from warehouse.adict import INFORMATIVE_CONSUMPTION, PUBLISHED_CONSUMPTION
from warehouse.columns import schema_of
from warehouse.curated import UpdateResult, update_curated
from warehouse.gasday import month_key
from warehouse.lake import BlockingRuleFailed, Lake
from warehouse.landing import create_table, land
from warehouse.sfm import FLEXIBILITY_INDICATORS
from warehouse.store import FETCHED_AT, Replacement, TableSpec

MEASURES, ALLOCATIONS = INGRID["daily_measures"], INGRID["daily_allocations"]
FORECASTS, IMBALANCES = INGRID["daily_contractual_forecasts"], INGRID["daily_imbalances"]
SOURCES = [INFORMATIVE_CONSUMPTION, PUBLISHED_CONSUMPTION, MEASURES, ALLOCATIONS]
SOURCES += [FORECASTS, IMBALANCES, FLEXIBILITY_INDICATORS]
VIEWS = Path(__file__).parent / "reference_views"  # the views before DuckLake: the reference
T0 = datetime(2026, 10, 1, 12, tzinfo=UTC)
PROV, DEF = "Provisoire", "Définitive"
DAILY, MONTHLY = "adict.daily_consumption", "adict.monthly_consumption"
BALANCE, TIMELINE = "ingrid.daily_balance", "sfm.indicator_timeline"


@dataclass
class Warehouse:
    lake: Lake
    sources: Sequence[TableSpec] = tuple(SOURCES)  # the tables created empty at first

    def __post_init__(self) -> None:
        self.con = self.lake.open()
        self.lake.write(self.con, lambda c: [create_table(c, spec) for spec in self.sources])

    def land(
        self,
        spec: TableSpec,
        rows: Sequence[dict[str, Any]],
        fetched_at: datetime = T0,
        replaced: Sequence[Replacement] = (),
    ) -> None:
        """Land rows given by column name; each carries its partition (`month`)."""
        schema = schema_of([*spec.columns, FETCHED_AT]).append(pa.field("month", pa.string()))
        incoming = pa.Table.from_pylist([r | {"fetched_at": fetched_at} for r in rows], schema)
        months = {month_key(r.first_day) for r in replaced} | {
            month_key(r.last_day) for r in replaced
        }
        land(self.lake, self.con, spec, incoming, replaced=replaced, replaced_in=months)

    def update(self) -> dict[str, UpdateResult]:
        return update_curated(self.lake)

    def rows(self, sql: str) -> list[tuple]:
        return self.con.execute(f"SELECT * FROM ({sql}) ORDER BY ALL").fetchall()

    def assert_as_views(self, *names: str) -> None:
        """Each curated table holds what today's view SQL computes over the sources."""
        for name in names:
            assert self.rows(f"FROM lake.{name}") == self.rows(reference(name)), name

    def snapshot(self) -> int:
        return self.con.execute("SELECT id FROM lake.current_snapshot()").fetchone()[0]

    def changes(self, name: str, after: int) -> list[tuple]:
        schema, table = name.split(".")
        return self.rows(
            f"SELECT * EXCLUDE (snapshot_id, rowid) FROM ducklake_table_changes("
            f"'lake', '{schema}', '{table}', {after + 1}, {self.snapshot()})"
        )


def reference(name: str) -> str:
    sql = (VIEWS / f"{name}.sql").read_text("utf-8")
    if name == MONTHLY:  # today's monthly view reads today's daily view
        sql = sql.replace(f"FROM {DAILY}", f"FROM ({reference(DAILY)}\n)")
    return sql


@pytest.fixture
def lake(tmp_path: Path) -> Iterator[Warehouse]:
    w = Warehouse(Lake.at(tmp_path / "home"))
    yield w
    w.con.close()


def informative(pce: str, day: date, energy: float, statut: str = PROV) -> dict[str, Any]:
    return {
        "id_pce": pce,
        "journee_gaziere": day,
        "energie": energy,
        "volume_brut": energy / 10,
        "statut_conso": statut,
        "month": month_key(day),
    }


def published(pce: str, first: date, last: date, energy: float, statut: str = DEF) -> dict:
    """A published block; a one-day block carries its journee_gaziere, as GRDF sends it."""
    start = datetime(first.year, first.month, first.day, 4, tzinfo=UTC)
    end = datetime(last.year, last.month, last.day, 4, tzinfo=UTC) + timedelta(days=1)
    return {
        "id_pce": pce,
        "journee_gaziere": first if first == last else None,
        "date_debut_consommation": start,
        "date_fin_consommation": end,
        "energie": energy,
        "statut_conso": statut,
        "month": month_key(last),
    }


def september(day: int) -> date:
    return date(2026, 9, day)


def land_adict_base(lake: Warehouse) -> None:
    """PCE A on Aug 31 - Sep 4 and B on Sep 1-2, provisional; A's days 2-4 published
    (2 definitive but older, 3 provisional and older, 4 definitive); B's monthly block."""
    days = [date(2026, 8, 31), *(september(d) for d in range(1, 5))]
    rows = [informative("A", d, 10.0 * d.day) for d in days]
    rows += [informative("B", september(d), 100.0 + d) for d in (1, 2)]
    lake.land(INFORMATIVE_CONSUMPTION, rows)
    blocks = [
        published("A", september(2), september(2), 21.0),
        published("A", september(3), september(3), 33.0, PROV),
        published("A", september(4), september(4), 42.0),
        published("B", september(1), september(30), 900.0),
    ]
    lake.land(PUBLISHED_CONSUMPTION, blocks, T0 - timedelta(days=1))


def test_adict_tables_equal_the_views_after_each_landing(lake: Warehouse) -> None:
    land_adict_base(lake)
    built = lake.update()
    assert (built[DAILY].action, built[MONTHLY].action) == ("built", "built")
    assert (built[BALANCE].rows_inserted, built[TIMELINE].rows_inserted) == (0, 0)
    lake.assert_as_views(DAILY, MONTHLY)

    # GRDF restates days 1 and 4 as definitive (day 4 is also published: it stays so).
    later = T0 + timedelta(days=1)
    restated = [
        informative("A", september(1), 11.0, DEF),
        informative("A", september(4), 41.0, DEF),
    ]
    lake.land(INFORMATIVE_CONSUMPTION, restated, later)
    updated = lake.update()
    assert (updated[DAILY].action, updated[DAILY].keys_recomputed) == ("updated", 2)
    lake.assert_as_views(DAILY, MONTHLY)
    assert lake.rows(
        f"SELECT energie FROM {DAILY} WHERE id_pce = 'A' AND day(journee_gaziere) IN (1, 4)"
    ) == [
        (11.0,),
        (42.0,),
    ]

    # A tie in fetch time between two provisional values: the published one wins.
    tie = T0 + timedelta(days=2)
    lake.land(INFORMATIVE_CONSUMPTION, [informative("C", september(5), 5.0)], tie)
    lake.land(PUBLISHED_CONSUMPTION, [published("C", september(5), september(5), 6.0, PROV)], tie)
    lake.update()
    lake.assert_as_views(DAILY, MONTHLY)
    assert lake.rows(f"SELECT energie, source FROM {DAILY} WHERE id_pce = 'C'") == [
        (6.0, "published_consumption")
    ]

    # A's Aug 31 - Sep 2 re-fetched with nothing left: the old rows go, August empties.
    refetched = T0 + timedelta(days=3)
    gone = [Replacement("A", date(2026, 8, 31), september(2), refetched)]
    lake.land(INFORMATIVE_CONSUMPTION, [], refetched, replaced=gone)
    updated = lake.update()
    assert updated[DAILY].keys_recomputed == 3
    lake.assert_as_views(DAILY, MONTHLY)
    assert lake.rows(f"SELECT month FROM {MONTHLY} WHERE id_pce = 'A'") == [("2026-09",)]


def test_a_one_pce_landing_recomputes_only_that_pces_keys(lake: Warehouse) -> None:
    land_adict_base(lake)
    lake.update()
    lake.land(
        INFORMATIVE_CONSUMPTION, [informative("B", september(2), 7.0, DEF)], T0 + timedelta(days=1)
    )

    updated = lake.update()
    daily, monthly = updated[DAILY], updated[MONTHLY]
    assert (daily.keys_recomputed, daily.rows_deleted, daily.rows_inserted) == (1, 1, 1)
    assert (monthly.keys_recomputed, monthly.rows_changed) == (1, 2)
    assert {row[1] for row in lake.changes(DAILY, daily.snapshot_read or 0)} == {"B"}
    assert {row[1] for row in lake.changes(MONTHLY, daily.snapshot_read or 0)} == {"B"}
    lake.assert_as_views(DAILY, MONTHLY)


def test_an_update_without_source_changes_writes_nothing(lake: Warehouse) -> None:
    land_adict_base(lake)
    lake.update()
    before = lake.snapshot()
    again = lake.update()
    assert {r.action for r in again.values()} == {"unchanged"}
    assert sum(r.rows_changed for r in again.values()) == 0
    assert lake.snapshot() == before  # not even the recorded snapshot moved
    # A landing elsewhere (Ingrid) leaves the ADICT tables alone as well.
    lake.land(
        MEASURES,
        [{"gas_day": september(1), "point_code": "P", "quantity": 1.0, "month": "2026-09"}],
    )
    assert lake.update()[DAILY].action == "unchanged"


def test_a_table_waits_for_all_its_sources(tmp_path: Path) -> None:
    lake = Warehouse(Lake.at(tmp_path / "home"), sources=[INFORMATIVE_CONSUMPTION, MEASURES])
    results = lake.update()
    assert {name: r.action for name, r in results.items()} == {
        DAILY: "waiting",
        MONTHLY: "waiting",
        BALANCE: "waiting",
        TIMELINE: "waiting",
    }
    assert lake.rows("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'gazoduc'") == []
    lake.con.close()


def test_a_broken_rule_rolls_the_update_back(lake: Warehouse) -> None:
    land_adict_base(lake)
    lake.update()
    good = lake.rows(f"FROM {DAILY}")
    state = lake.rows("FROM lake.gazoduc.curated_state")
    # A second row for A on Sep 3, written behind the landing's back: the daily table
    # would hold two rows for that day.
    duplicate = (
        "INSERT INTO adict.informative_consumption "
        "(id_pce, journee_gaziere, energie, statut_conso, fetched_at, month) "
        "VALUES ('A', '2026-09-03', 2.0, 'Définitive', now(), '2026-09')"
    )
    lake.lake.write(lake.con, lambda c: c.execute(duplicate))

    with pytest.raises(BlockingRuleFailed, match="several rows"):
        lake.update()
    assert lake.rows(f"FROM {DAILY}") == good
    assert lake.rows("FROM lake.gazoduc.curated_state") == state

    # Once the source is repaired, the next update applies what the failed one could not.
    lake.lake.write(
        lake.con,
        lambda c: c.execute("DELETE FROM adict.informative_consumption WHERE energie = 2.0"),
    )
    assert lake.update()[DAILY].keys_recomputed == 1
    lake.assert_as_views(DAILY, MONTHLY)


def test_expired_snapshots_rebuild_the_tables_whole(lake: Warehouse) -> None:
    land_adict_base(lake)
    lake.update()
    lake.land(
        INFORMATIVE_CONSUMPTION, [informative("D", september(9), 9.0)], T0 + timedelta(days=1)
    )
    lake.con.execute("CALL ducklake_expire_snapshots('lake', older_than => now())")
    rebuilt = lake.update()
    assert (rebuilt[DAILY].action, rebuilt[MONTHLY].action) == ("built", "built")
    lake.assert_as_views(DAILY, MONTHLY)


def test_a_table_whose_columns_are_not_its_sqls_any_more_is_rebuilt(lake: Warehouse) -> None:
    land_adict_base(lake)
    lake.update()
    # As after an edit of the SQL file: the table's columns differ from the SELECT's.
    lake.lake.write(lake.con, lambda c: c.execute(f"ALTER TABLE {DAILY} DROP COLUMN source"))
    rebuilt = lake.update()
    assert (rebuilt[DAILY].action, rebuilt[DAILY].rows_inserted) == ("built", 7)
    lake.assert_as_views(DAILY, MONTHLY)


def measure(day: date, point: str, quantity: float, unit: str = "kWh") -> dict[str, Any]:
    return {
        "gas_day": day,
        "point_code": point,
        "quantity": quantity,
        "unit": unit,
        "status": "V",
        "month": month_key(day),
    }


def allocation(day: date, point: str, quantity: float, status: str = "P") -> dict[str, Any]:
    return {
        "gas_day": day,
        "point_code": point,
        "allocated_quantity": quantity,
        "unit": "kWh",
        "status": status,
        "month": month_key(day),
    }


def test_the_daily_balance_equals_its_view_across_dst_days_and_corrections(
    lake: Warehouse,
) -> None:
    # 2026-03-29 has 23 hours, 2026-10-25 has 25: daily figures, one row each all the same.
    days = [date(2026, 3, 29), date(2026, 10, 24), date(2026, 10, 25), date(2026, 10, 26)]
    lake.land(MEASURES, [measure(d, p, 100.0 + d.day) for d in days for p in ("P1", "P2")])
    lake.land(MEASURES, [measure(days[2], "P3", 7.0, unit="MWh")])  # a second unit that day
    lake.land(ALLOCATIONS, [allocation(d, "P1", 98.0) for d in days])
    forecast = {
        "gas_day": days[2],
        "point_code": "P1",
        "forecast_quantity": 90.0,
        "unit": "kWh",
        "forecast_date_time": T0,
        "month": "2026-10",
    }
    lake.land(FORECASTS, [forecast])
    imbalance = {
        "gas_day": days[2],
        "balancing_zone": "TRF",
        "allocated_quantity": 98.0,
        "forecast_quantity": 90.0,
        "imbalance_quantity": 8.0,
        "tolerance_quantity": 5.0,
        "unit": "kWh",
        "status": "P",
        "month": "2026-10",
    }
    lake.land(IMBALANCES, [imbalance])
    assert lake.update()[BALANCE].action == "built"
    lake.assert_as_views(BALANCE)
    assert len(lake.rows(f"FROM {BALANCE} WHERE gas_day = '2026-10-25'")) == 2  # kWh, MWh

    # GRTgaz corrects Oct 25: P2 is gone, P1's allocation is final.
    later = T0 + timedelta(days=1)
    corrected = [Replacement(None, days[2], days[2], later)]
    lake.land(MEASURES, [measure(days[2], "P1", 111.0)], later, replaced=corrected)
    lake.land(ALLOCATIONS, [allocation(days[2], "P1", 99.0, "D")], later, replaced=corrected)
    updated = lake.update()[BALANCE]
    assert (updated.action, updated.keys_recomputed) == ("updated", 1)
    lake.assert_as_views(BALANCE)
    assert lake.rows(
        f"SELECT unit, measured_points FROM {BALANCE} WHERE gas_day = '2026-10-25'"
    ) == [("kWh", 1)]


def capture(
    site: str, captured: datetime, plus: str, applies: datetime, side: str = "current"
) -> dict[str, Any]:
    """A capture of `site`'s indicators: Q -> Q+ is `plus` from `applies`; Q -> Q- green."""
    gas_day = date(2026, 10, 25)
    return {
        "captured_at": captured, "gas_day": gas_day, "indicator": side, "site_id": site,
        "site_label": f"Site {site}", "mesh_code": "ME0008", "mesh_label": "Provence",
        "q_to_0_status": "GREEN", "q_to_0_availability_date_time": captured,
        "q_to_0_application_date_time": datetime(2026, 10, 24, 4, 15, tzinfo=UTC),
        "q_to_qmax_status": plus, "q_to_qmax_availability_date_time": captured,
        "q_to_qmax_application_date_time": applies, "month": "2026-10",
    }  # fmt: skip


def utc(hour: int, minute: int = 15) -> datetime:
    """An instant of the night of 2026-10-25 (Paris goes back from 03:00 CEST to 02:00 CET
    at 01:00 UTC): 00:15 and 01:15 UTC are both 02:15 in Paris."""
    return datetime(2026, 10, 25, hour, minute, tzinfo=UTC)


def test_the_indicator_timeline_recomputes_whole_sites(lake: Warehouse) -> None:
    rows = [
        capture("S1", utc(0, 7), "GREEN", utc(0)),
        capture("S1", utc(1, 7), "RED", utc(1)),  # the repeated 02:15 Paris
        capture("S1", utc(2, 7), "RED", utc(2)),  # folded into the RED interval
        capture("S1", utc(2, 8), "GREEN", utc(5), side="next"),  # superseded below
        capture("S2", utc(0, 7), "GREY", utc(0)),
        capture("S2", utc(4, 7), "GREEN", utc(5)),  # 06:15 Paris: the next gas day starts
    ]
    lake.land(FLEXIBILITY_INDICATORS, rows)
    assert lake.update()[TIMELINE].action == "built"
    lake.assert_as_views(TIMELINE)

    # A later capture for S1 supersedes the announced state: only S1 is recomputed.
    lake.land(
        FLEXIBILITY_INDICATORS, [capture("S1", utc(4, 7), "RED", utc(5))], T0 + timedelta(hours=1)
    )
    updated = lake.update()[TIMELINE]
    assert updated.keys_recomputed == 1
    assert {row[1] for row in lake.changes(TIMELINE, updated.snapshot_read or 0)} == {"S1"}
    lake.assert_as_views(TIMELINE)

    # S2's captures of the day re-fetched empty: its intervals go.
    gone = [Replacement("S2", date(2026, 10, 25), date(2026, 10, 25), T0 + timedelta(hours=2))]
    lake.land(FLEXIBILITY_INDICATORS, [], T0 + timedelta(hours=2), replaced=gone)
    assert lake.update()[TIMELINE].keys_recomputed == 1
    lake.assert_as_views(TIMELINE)
    assert {row[0] for row in lake.rows(f"SELECT site_id FROM {TIMELINE}")} == {"S1"}


def test_dagster_updates_the_daily_table_after_a_source_lands(tmp_path: Path) -> None:
    home = tmp_path / "home"
    days = dg.DailyPartitionsDefinition(start_date="2020-01-01")

    def land_rows(spec: TableSpec, rows: list[dict[str, Any]]) -> None:
        """What a landing asset does, in short."""
        sources = Warehouse(Lake.at(home))
        sources.land(spec, rows)
        sources.con.close()

    @dg.asset(key=["adict", "informative_consumption"], partitions_def=days)
    def informative_source() -> None:
        land_rows(INFORMATIVE_CONSUMPTION, [informative("A", date(2026, 9, 1), 5.0)])

    @dg.asset(key=["adict", "published_consumption"], partitions_def=days)
    def published_source() -> None:
        land_rows(PUBLISHED_CONSUMPTION, [])

    daily = next(a for a in CURATED_ASSETS if a.key == dg.AssetKey(["adict", "daily_consumption"]))
    check = next(c for c in CURATED_CHECKS if daily.key in {k.asset_key for k in c.check_keys})
    resources = {"warehouse": WarehouseResource(home=str(home))}
    defs = dg.Definitions(assets=[informative_source, published_source, daily], resources=resources)
    with dg.instance_for_test() as instance:
        evaluated = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        assert evaluated.total_requested == 0
        for source in (published_source, informative_source):
            dg.materialize([source], instance=instance, partition_key="2026-09-01")
        evaluated = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, cursor=evaluated.cursor
        )
        assert evaluated.get_requested_partitions(daily.key) == {None}

        result = dg.materialize([daily, check], instance=instance, resources=resources)
        assert result.success
        (materialization,) = result.asset_materializations_for_node(daily.node_def.name)
        assert materialization.metadata["action"].value == "built"
        assert materialization.metadata["keys_recomputed"].value == 1
        assert all(c.passed for c in result.get_asset_check_evaluations())
