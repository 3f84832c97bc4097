"""BI queries on the curated views of a 5,000-PCE × 3-year warehouse, in three file layouts.

Synthetic informative consumption (one row per PCE and gas day, the last 40 days
provisional) and published consumption (daily blocks for 10 % of the PCEs, JJ meters;
monthly blocks for the others), with every TableSpec column, written by DuckDB (the
store's writer: zstd, sorted by PCE then day) straight into the hive layout, no HTTP:
  daily    one file per gas day          month=…/day=…/data.parquet
  monthly  one file per month (ours)     month=…/data.parquet
  yearly   one file per year, compacted  year=…/data.parquet (month as a column)
Each layout gets its own catalog (table views + the shipped curated views) opened
read-only, as a BI tool does. Figures are medians of --runs runs.

    .venv/bin/python bench/warehouse_queries.py --pces 5000 --years 3
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa

from warehouse.adict import INFORMATIVE_CONSUMPTION, PUBLISHED_CONSUMPTION
from warehouse.columns import schema_of
from warehouse.store import TableSpec
from warehouse.views import create_curated_views

LAYOUTS = ("daily", "monthly", "yearly")
LAST_DAY = date(2026, 10, 31)
PROVISIONAL_DAYS = 40
JJ_SHARE = 10  # one PCE in ten has daily published data


def informative_sql(pces: int, first: date) -> str:
    """Energy with a winter peak and per-day noise, deterministic (hash of PCE and day)."""
    return f"""
        SELECT printf('%014d', p) AS id_pce, d::DATE AS journee_gaziere,
            round((200 + p % 300) * (1 + 0.6 * cos(2 * pi() * (dayofyear(d) - 15) / 365.25))
                  * (0.85 + 0.3 * (hash(p, d) % 1000) / 1000.0)) AS energie,
            CASE WHEN d > DATE '{LAST_DAY}' - {PROVISIONAL_DAYS}
                 THEN 'Provisoire' ELSE 'Définitive' END AS statut_conso,
            'Mesuré' AS type_qualif_conso, 'Informative' AS type_conso,
            TIMESTAMPTZ '{LAST_DAY} 14:00:00+00' AS fetched_at
        FROM range({pces}) AS t(p),
             range(DATE '{first}', DATE '{LAST_DAY}' + 1, INTERVAL 1 DAY) AS s(d)
    """


def published_sql(first: date) -> str:
    """Definitive published rows: JJ meters daily, the others one block per month."""
    daily = f"""
        SELECT id_pce, journee_gaziere, journee_gaziere AS first_day, energie,
            'Définitive' AS statut_conso, 'Publiée' AS type_conso, fetched_at
        FROM info WHERE CAST(id_pce AS BIGINT) % {JJ_SHARE} = 0
          AND journee_gaziere <= DATE '{LAST_DAY}' - {PROVISIONAL_DAYS}
    """
    monthly = f"""
        SELECT id_pce, NULL::DATE AS journee_gaziere, min(journee_gaziere) AS first_day,
            sum(energie) AS energie, 'Définitive', 'Publiée', max(fetched_at)
        FROM info WHERE CAST(id_pce AS BIGINT) % {JJ_SHARE} <> 0
          AND journee_gaziere <= DATE '{LAST_DAY}' - {PROVISIONAL_DAYS}
        GROUP BY id_pce, date_trunc('month', journee_gaziere)
    """
    return f"""
        SELECT *, first_day AS date_debut_consommation,
            CASE WHEN journee_gaziere IS NULL THEN last_day(first_day) ELSE first_day END
                AS last_gas_day,
            (last_gas_day + 1)::TIMESTAMPTZ AS date_fin_consommation
        FROM ({daily} UNION ALL {monthly})
    """


def typed(con: duckdb.DuckDBPyConnection, spec: TableSpec, source: str) -> pa.Table:
    """Every landed column of the spec, typed as the store writes it; the day it lands on."""
    have = {c[0] for c in con.sql(f"DESCRIBE {source}").fetchall()}
    schema = schema_of(spec.landed_columns(keep_personal=False))
    columns = [
        f.name if f.name in have else f"NULL AS {f.name}" for f in schema if f.name != "month"
    ]
    day = "last_gas_day" if "last_gas_day" in have else "journee_gaziere"
    table = fetch(con, f"SELECT {', '.join(columns)}, {day} AS _day FROM {source}")
    return table.cast(schema.append(pa.field("_day", pa.date32())))


def write_layout(con: duckdb.DuckDBPyConnection, table: pa.Table, folder: Path, layout: str) -> int:
    """Files as the store writes them: one per partition, sorted by PCE then day."""
    part = {
        "daily": "strftime(_day, 'month=%Y-%m/day=%Y-%m-%d')",
        "monthly": "strftime(_day, 'month=%Y-%m')",
        "yearly": "strftime(_day, 'year=%Y')",
    }[layout]
    keep_month = ", strftime(_day, '%Y-%m') AS month" if layout == "yearly" else ""
    key = ("id_pce", "journee_gaziere", "date_debut_consommation")
    order = ", ".join(c for c in key if c in table.column_names)
    con.register("rows", table)
    # Sorted once by partition: each file is then a zero-copy slice of one Arrow table.
    ordered = con.sql(
        f"SELECT {part} AS _part, * EXCLUDE (_day){keep_month} FROM rows ORDER BY _part, {order}"
    ).to_arrow_table()
    con.unregister("rows")
    parts = ordered.column("_part").to_pylist()
    starts = [n for n in range(len(parts)) if n == 0 or parts[n] != parts[n - 1]]
    for start, end in zip(starts, [*starts[1:], len(parts)], strict=True):
        target = folder / parts[start] / "data.parquet"
        target.parent.mkdir(parents=True, exist_ok=True)
        con.register("piece", ordered.slice(start, end - start).drop_columns(["_part"]))
        con.execute(f"COPY piece TO '{target}' (FORMAT parquet, COMPRESSION zstd)")
        con.unregister("piece")
    return len(starts)


def table_view(spec: TableSpec, folder: Path, layout: str) -> str:
    glob = {"daily": "month=*/day=*", "monthly": "month=*", "yearly": "year=*"}[layout]
    hive = {"daily": "{'month': VARCHAR, 'day': DATE}", "monthly": "{'month': VARCHAR}"}
    types = f", hive_types = {hive[layout]}" if layout in hive else ""
    drop = {"daily": " EXCLUDE (day)", "yearly": " EXCLUDE (year)"}.get(layout, "")
    return (
        f"CREATE VIEW {spec.schema}.{spec.name} AS SELECT *{drop} FROM read_parquet("
        f"'{folder}/{glob}/data.parquet', hive_partitioning = true{types}, union_by_name = true)"
    )


def build(home: Path, tables: dict[str, pa.Table], layout: str) -> tuple[int, int]:
    files = 0
    with duckdb.connect() as con:
        for spec in (INFORMATIVE_CONSUMPTION, PUBLISHED_CONSUMPTION):
            files += write_layout(con, tables[spec.name], home / layout / spec.name, layout)
    with duckdb.connect(str(home / f"{layout}.duckdb")) as con:
        con.execute("CREATE SCHEMA adict")
        for spec in (INFORMATIVE_CONSUMPTION, PUBLISHED_CONSUMPTION):
            con.execute(table_view(spec, home / layout / spec.name, layout))
        create_curated_views(con, {"adict.informative_consumption", "adict.published_consumption"})
    size = sum(p.stat().st_size for p in (home / layout).rglob("*.parquet"))
    return files, size


def queries(pce: str, year: int) -> dict[str, str]:
    in_year = f"journee_gaziere BETWEEN DATE '{year}-01-01' AND DATE '{year}-12-31'"
    daily = "FROM adict.daily_consumption"
    return {
        "year, every PCE, daily view": f"SELECT * {daily} WHERE {in_year}",
        "year, every PCE, raw table": (
            f"SELECT * FROM adict.informative_consumption WHERE {in_year}"
        ),
        "per-day totals, 1 year": (
            f"SELECT journee_gaziere, sum(energie) {daily} WHERE {in_year} GROUP BY 1"
        ),
        "monthly totals, every PCE": "SELECT * FROM adict.monthly_consumption",
        "one PCE, 3 years": f"SELECT * {daily} WHERE id_pce = '{pce}' ORDER BY journee_gaziere",
    }


def fetch(con: duckdb.DuckDBPyConnection, sql: str) -> pa.Table:
    """The whole result as Arrow, as a BI driver or a notebook takes it."""
    return con.sql(sql).to_arrow_table()


def median_ms(run: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pces", type=int, default=5000)
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--layouts", default=",".join(LAYOUTS))
    args = parser.parse_args()
    layouts = args.layouts.split(",")
    first = LAST_DAY - timedelta(days=365 * args.years - 1)

    started = time.perf_counter()
    with duckdb.connect() as con:
        con.execute(f"CREATE TABLE info AS {informative_sql(args.pces, first)}")
        tables = {
            INFORMATIVE_CONSUMPTION.name: typed(con, INFORMATIVE_CONSUMPTION, "info"),
            PUBLISHED_CONSUMPTION.name: typed(
                con, PUBLISHED_CONSUMPTION, f"({published_sql(first)})"
            ),
        }
    rows = sum(t.num_rows for t in tables.values())
    print(
        f"generated {tables['informative_consumption'].num_rows:,} informative + "
        f"{tables['published_consumption'].num_rows:,} published rows "
        f"({args.pces:,} PCEs, {first}..{LAST_DAY}) in {time.perf_counter() - started:.1f} s"
    )
    checks = queries(f"{7:014d}", LAST_DAY.year - 1)
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        for layout in layouts:
            started = time.perf_counter()
            files, size = build(home, tables, layout)
            written = time.perf_counter() - started
            with duckdb.connect(str(home / f"{layout}.duckdb"), read_only=True) as con:
                figures = {
                    name: median_ms(lambda sql=sql: fetch(con, sql), args.runs)
                    for name, sql in checks.items()
                }
                (daily_rows,) = con.execute(
                    "SELECT count(*) FROM adict.daily_consumption"
                ).fetchone()
            figures |= {"files": files, "MB": size / 1e6, "MB per M rows": size / rows}
            figures |= {"written in s": written, "daily rows": daily_rows}
            results[layout] = figures
    print_table(results, layouts)


def print_table(results: dict[str, dict[str, float]], layouts: list[str]) -> None:
    print(f"\n{'':32}" + "".join(f"{layout:>12}" for layout in layouts))
    for name in results[layouts[0]]:
        cells = []
        for layout in layouts:
            value = results[layout][name]
            cells.append(
                f"{value:>12,.0f}"
                if value >= 100 or name in ("files", "daily rows")
                else f"{value:>12,.1f}"
            )
        unit = (
            ""
            if name in ("files", "MB", "MB per M rows", "written in s", "daily rows")
            else " (ms)"
        )
        print(f"{name + unit:32}" + "".join(cells))  # fmt: skip


if __name__ == "__main__":
    main()
