"""BI queries on a DuckLake table shaped like `adict.daily_consumption`, against a bare
`read_parquet` of the same rows, in one run.

5,000 PCEs × 3 years of daily rows (5.5 M) with the columns of the curated view
(`warehouse/views/adict.daily_consumption.sql`), deterministic (hash of PCE and day):
  bare      one zstd Parquet file per month, sorted by PCE then day, read with
            read_parquet(hive_partitioning): the floor a DuckLake table can reach;
  DuckLake  one table per layout, each in its own catalog, opened read-only as a BI tool
            does (`Lake.open(read_only=True)`), PARTITIONED BY (month) and
            SORTED BY (id_pce, journee_gaziere), filled by one INSERT per layout:
              threads   the INSERT as DuckDB runs it (all threads);
              ordered   the INSERT's SELECT ordered by the sort key;
              serial    `SET threads = 1` for the INSERT.
Per query and layout: the median of --runs runs (all sessions alternating within a run,
so a busy machine slows them alike), its ratio to bare, whether it meets
the goal (≤ 1.2 × bare, or within 10 ms of it); per layout: the INSERT's seconds, the
disk bytes per million rows (goal ≤ 2 MB) and whether each file is sorted by the key.

    .venv/bin/python bench/warehouse_queries.py --pces 5000 --years 3
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb

from warehouse.lake import Lake, connect, sql_string

LAST_DAY = date(2026, 10, 31)
PROVISIONAL_DAYS = 40
TABLE = "adict.daily_consumption"
COLUMNS = """
    id_pce VARCHAR, journee_gaziere DATE, month VARCHAR, energie DOUBLE,
    volume_brut DOUBLE, volume_converti DOUBLE, type_qualif_conso VARCHAR,
    statut_conso VARCHAR, definitive BOOLEAN, source VARCHAR,
    fetched_at TIMESTAMP WITH TIME ZONE
"""
SORT_KEY = "id_pce, journee_gaziere"
# The table's layout, for the curated tables: what this bench measures.
LAYOUT_SQL = f"""
    CREATE SCHEMA IF NOT EXISTS adict;
    CREATE TABLE {TABLE} ({COLUMNS});
    ALTER TABLE {TABLE} SET PARTITIONED BY (month);
    ALTER TABLE {TABLE} SET SORTED BY ({SORT_KEY});
"""
GOAL_RATIO, GOAL_MS = 1.2, 10.0


def rows_sql(pces: int, first: date) -> str:
    """Energy with a winter peak and per-day noise; volumes from energy and a PCS; the
    last 40 days provisional and informative, the others definitive and published."""
    return f"""
        SELECT printf('%014d', p) AS id_pce, d::DATE AS journee_gaziere,
            strftime(d, '%Y-%m') AS month,
            round((200 + p % 300) * (1 + 0.6 * cos(2 * pi() * (dayofyear(d) - 15) / 365.25))
                  * (0.85 + 0.3 * (hash(p, d) % 1000) / 1000.0)) AS energie,
            round(energie / 11.2, 3) AS volume_brut,
            round(volume_brut * 0.981, 3) AS volume_converti,
            'Mesuré' AS type_qualif_conso,
            CASE WHEN provisional THEN 'Provisoire' ELSE 'Définitive' END AS statut_conso,
            NOT provisional AS definitive,
            CASE WHEN provisional THEN 'informative_consumption'
                 ELSE 'published_consumption' END AS source,
            TIMESTAMPTZ '{LAST_DAY} 14:00:00+00' AS fetched_at
        FROM range({pces}) AS t(p),
             range(DATE '{first}', DATE '{LAST_DAY}' + 1, INTERVAL 1 DAY) AS s(d),
             LATERAL (SELECT d > DATE '{LAST_DAY}' - {PROVISIONAL_DAYS} AS provisional)
    """


@dataclass(frozen=True)
class Layout:
    name: str
    ordered: bool = False  # the INSERT's SELECT ordered by the sort key
    threads: int | None = None  # the INSERT's threads; None: DuckDB's default


LAYOUTS = (Layout("threads"), Layout("ordered", ordered=True), Layout("serial", threads=1))


def queries(pce: str, year: int) -> dict[str, str]:
    return {
        "per-day totals over a year": f"""
            SELECT journee_gaziere, sum(energie) FROM daily
            WHERE journee_gaziere BETWEEN DATE '{year}-01-01' AND DATE '{year}-12-31'
            GROUP BY ALL ORDER BY ALL""",
        "one PCE's 3 years": f"""
            SELECT journee_gaziere, energie, statut_conso FROM daily
            WHERE id_pce = '{pce}' ORDER BY journee_gaziere""",
        "monthly totals per PCE": """
            SELECT id_pce, month, sum(energie), sum(volume_converti) FROM daily
            GROUP BY ALL""",
    }


def write_bare(con: duckdb.DuckDBPyConnection, folder: Path) -> None:
    con.execute(
        f"COPY (FROM source ORDER BY month, {SORT_KEY}) TO {sql_string(str(folder))} "
        "(FORMAT parquet, COMPRESSION zstd, PARTITION_BY (month), FILENAME_PATTERN 'data')"
    )


def write_lake(home: Path, layout: Layout, source: Path) -> float:
    """The layout's table filled by one INSERT; its seconds."""
    lake = Lake.at(home, "ducklake:sqlite:warehouse.sqlite")
    with lake.open() as con:
        lake.write(con, lambda c: c.execute(LAYOUT_SQL))
        con.execute("CALL lake.set_option('parquet_compression', 'zstd')")
        if layout.threads is not None:
            con.execute(f"SET threads = {layout.threads}")
        order = f" ORDER BY {SORT_KEY}" if layout.ordered else ""
        started = time.perf_counter()
        lake.write(
            con,
            lambda c: c.execute(
                f"INSERT INTO {TABLE} SELECT * FROM read_parquet({sql_string(str(source))}){order}"
            ),
        )
        return time.perf_counter() - started


def sorted_runs(con: duckdb.DuckDBPyConnection, files: list[str]) -> int:
    """How many runs sorted by the key the files hold: one per file when each is sorted."""
    runs = 0
    for path in files:
        (breaks,) = con.execute(
            "SELECT count(*) FROM (SELECT id_pce, journee_gaziere, "
            "lag((id_pce, journee_gaziere)) OVER (ORDER BY file_row_number) AS previous "
            f"FROM read_parquet({sql_string(path)}, file_row_number = true)) "
            "WHERE previous > (id_pce, journee_gaziere)"
        ).fetchone() or (0,)
        runs += 1 + breaks
    return runs


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*.parquet"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pces", type=int, default=5000)
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    first = LAST_DAY - timedelta(days=365 * args.years)
    chosen = queries(f"{args.pces // 2:014d}", LAST_DAY.year - 1)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        source = root / "source.parquet"
        with connect() as con:
            con.execute(f"CREATE VIEW source AS {rows_sql(args.pces, first)}")
            con.execute(f"COPY source TO {sql_string(str(source))} (FORMAT parquet)")
            rows = con.execute(f"SELECT count(*) FROM {sql_string(str(source))}").fetchone()[0]
            write_bare(con, root / "bare")
        print(f"{rows:,} rows: {args.pces:,} PCEs × {args.years} years, medians of {args.runs}")

        sessions = {"bare read_parquet": bare_session(root / "bare")}
        facts = {"bare read_parquet": f"{folder_bytes(root / 'bare') / rows:.2f} MB/M rows"}
        for layout in LAYOUTS:
            home = root / layout.name
            seconds = write_lake(home, layout, source)
            con = Lake.at(home, "ducklake:sqlite:warehouse.sqlite").open(read_only=True)
            con.execute(f"CREATE TEMP VIEW daily AS FROM {TABLE}")
            files = [
                path
                for (path,) in con.execute(
                    "SELECT data_file FROM ducklake_list_files('lake', 'daily_consumption', "
                    "schema => 'adict')"
                ).fetchall()
            ]
            name = f"DuckLake {layout.name}"
            sessions[name] = con
            facts[name] = (
                f"{folder_bytes(home / 'warehouse') / rows:.2f} MB/M rows, INSERT {seconds:.1f} s, "
                f"{len(files)} files, {sorted_runs(con, files)} sorted runs"
            )
        figures = measure(sessions, chosen, args.runs)
        for name, con in sessions.items():
            print(f"{name}: {facts[name]}")
            report(figures[name], figures["bare read_parquet"])
            con.close()


def bare_session(folder: Path) -> duckdb.DuckDBPyConnection:
    con = connect()
    glob = sql_string(str(folder / "*" / "*.parquet"))
    con.execute(
        f"CREATE VIEW daily AS FROM read_parquet({glob}, hive_partitioning = true, "
        "hive_types = {'month': VARCHAR})"
    )
    return con


def measure(
    sessions: dict[str, duckdb.DuckDBPyConnection], chosen: dict[str, str], runs: int
) -> dict[str, dict[str, float]]:
    """Median milliseconds per session and query; sessions alternate within each run, so
    a busy machine slows them alike. A first, untimed run warms metadata and OS cache."""
    seconds: dict[str, dict[str, list[float]]] = {s: {q: [] for q in chosen} for s in sessions}
    for run in range(runs + 1):
        for query, sql in chosen.items():
            for name, con in sessions.items():
                started = time.perf_counter()
                con.execute(sql).fetchall()
                if run:
                    seconds[name][query].append(time.perf_counter() - started)
    return {
        name: {query: statistics.median(times) * 1000 for query, times in by_query.items()}
        for name, by_query in seconds.items()
    }


def report(figures: dict[str, float], bare: dict[str, float]) -> None:
    for name, ms in figures.items():
        ratio = ms / bare[name]
        meets = ratio <= GOAL_RATIO or ms - bare[name] <= GOAL_MS
        print(f"    {name:<28} {ms:8.1f} ms  ratio {ratio:4.2f}  {'ok' if meets else 'MISSED'}")


if __name__ == "__main__":
    main()
