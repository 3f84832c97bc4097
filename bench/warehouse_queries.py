"""BI queries on the project's `adict.daily_consumption`, beside a bare `read_parquet` of
the same rows, in one run; the curated update of a daily run; disk per million rows.

5,000 PCEs × 3 years of daily informative rows (5.5 M; energy with a winter peak and
per-day noise, the last 40 days provisional) are inserted into the source table
`adict.informative_consumption` of a DuckLake warehouse (`adict.published_consumption`
empty), then `warehouse.curated.update_curated` builds the curated tables as the
automation does (their layout from their SQL files' headers).
  bare      the curated rows copied to one zstd Parquet file per month, sorted by PCE then
            day, read with read_parquet(hive_partitioning): the floor a table can reach;
  DuckLake  `adict.daily_consumption` in a session opened read-only as a BI tool does
            (`Lake.open(read_only=True)`).
Per query: the median of --runs runs (the sessions alternate within a run, so a busy
machine slows them alike), its ratio to bare, whether it meets the goal (≤ 1.2 × bare, or
within 10 ms of it). Then a daily run: the last 3 days of every PCE landed again (GRDF
restates D-1..D-3) through the project's landing, and the curated update that follows
(goal ≤ 10 s); the disk bytes per million rows of the curated table (goal ≤ 2 MB).

    .venv/bin/python bench/warehouse_queries.py --pces 5000 --years 3
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb

from warehouse.adict import INFORMATIVE_CONSUMPTION, PUBLISHED_CONSUMPTION
from warehouse.build import months_between
from warehouse.curated import update_curated
from warehouse.lake import Lake, connect, sql_string
from warehouse.lake_table import LakeTable, session
from warehouse.landing import create_table, table_name

LAST_DAY = date(2026, 10, 31)
PROVISIONAL_DAYS = 40
TABLE = "adict.daily_consumption"
SORT_KEY = "id_pce, journee_gaziere"
GOAL_RATIO, GOAL_MS, GOAL_UPDATE_SECONDS, GOAL_MB = 1.2, 10.0, 10.0, 2.0


def informative_sql(pces: int, first: date, last: date, fetched: str) -> str:
    """Informative rows of [first, last] (the source table's columns, by name)."""
    return f"""
        SELECT printf('%014d', p) AS id_pce, d::DATE AS journee_gaziere,
            timezone('Europe/Paris', d::TIMESTAMP + INTERVAL 6 HOUR) AS date_debut_consommation,
            timezone('Europe/Paris', d::TIMESTAMP + INTERVAL 30 HOUR) AS date_fin_consommation,
            round((200 + p % 300) * (1 + 0.6 * cos(2 * pi() * (dayofyear(d) - 15) / 365.25))
                  * (0.85 + 0.3 * (hash(p, d) % 1000) / 1000.0)) AS energie,
            round(energie / 11.2, 3) AS volume_brut,
            round(volume_brut * 0.981, 3) AS volume_converti,
            'Mesuré' AS type_qualif_conso,
            CASE WHEN d > DATE '{LAST_DAY}' - {PROVISIONAL_DAYS} THEN 'Provisoire'
                 ELSE 'Définitive' END AS statut_conso,
            TIMESTAMPTZ '{fetched}' AS fetched_at,
            strftime(d, '%Y-%m') AS month
        FROM range({pces}) AS t(p),
             range(DATE '{first}', DATE '{last}' + 1, INTERVAL 1 DAY) AS s(d)
    """


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


def build_warehouse(home: Path, pces: int, first: date) -> tuple[int, float]:
    """The sources inserted, then the curated tables built; rows and the build's seconds."""
    lake = Lake.at(home)
    con = session(lake)
    for spec in (INFORMATIVE_CONSUMPTION, PUBLISHED_CONSUMPTION):
        lake.write(con, lambda c, spec=spec: create_table(c, spec))
    rows = informative_sql(pces, first, LAST_DAY, f"{LAST_DAY} 14:00:00+00")
    target = table_name(INFORMATIVE_CONSUMPTION)
    lake.write(con, lambda c: c.execute(f"INSERT INTO {target} BY NAME {rows}"))
    started = time.perf_counter()
    update_curated(lake)
    return _count(con, TABLE), time.perf_counter() - started


def daily_run(home: Path, pces: int) -> tuple[float, float, int]:
    """The last 3 days of every PCE landed again, restated (the project's landing, one
    replacement per PCE), then the curated update; its seconds and keys recomputed."""
    lake = Lake.at(home)
    con = session(lake)
    first = LAST_DAY - timedelta(days=2)
    fetched = f"{LAST_DAY + timedelta(days=1)} 14:00:00+00"
    table = con.sql(informative_sql(pces, first, LAST_DAY, fetched)).to_arrow_table()
    started = time.perf_counter()
    with LakeTable(lake, INFORMATIVE_CONSUMPTION).landing(months_between) as landing:
        landing.add(table.drop(["month"]), table.column("month").to_pylist())
        for pce in set(table.column("id_pce").to_pylist()):
            landing.replace(pce, first, LAST_DAY)
    landed = time.perf_counter() - started
    started = time.perf_counter()
    results = update_curated(lake)
    return landed, time.perf_counter() - started, results[TABLE].keys_recomputed


def write_bare(home: Path, folder: Path) -> None:
    con = session(Lake.at(home))
    con.execute(
        f"COPY (FROM {TABLE} ORDER BY month, {SORT_KEY}) TO {sql_string(str(folder))} "
        "(FORMAT parquet, COMPRESSION zstd, PARTITION_BY (month), FILENAME_PATTERN 'data')"
    )


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    (rows,) = con.execute(f"SELECT count(*) FROM {table}").fetchone() or (0,)
    return int(rows)


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
        home = root / "home"
        rows, built = build_warehouse(home, args.pces, first)
        write_bare(home, root / "bare")
        print(
            f"{rows:,} curated rows: {args.pces:,} PCEs × {args.years} years; "
            f"the curated tables built in {built:.1f} s; medians of {args.runs}"
        )
        lake_con = Lake.at(home).open(read_only=True)
        lake_con.execute(f"CREATE TEMP VIEW daily AS FROM {TABLE}")
        sessions = {"bare read_parquet": bare_session(root / "bare"), TABLE: lake_con}
        figures = measure(sessions, chosen, args.runs)
        files = [
            path
            for (path,) in lake_con.execute(
                "SELECT data_file FROM ducklake_list_files('lake', 'daily_consumption', "
                "schema => 'adict')"
            ).fetchall()
        ]
        curated_bytes = sum(Path(f).stat().st_size for f in files)
        for name in sessions:
            print(name)
            report(figures[name], figures["bare read_parquet"])
        mb, bare_mb = curated_bytes / rows, folder_bytes(root / "bare") / rows
        print(
            f"{TABLE}: {len(files)} files, {sorted_runs(lake_con, files)} runs sorted by "
            f"({SORT_KEY}); {mb:.2f} MB per million rows "
            f"({'ok' if mb <= GOAL_MB else 'MISSED'}; bare {bare_mb:.2f})"
        )
        for con in sessions.values():
            con.close()
        landed, updated, keys = daily_run(home, args.pces)
        print(
            f"daily run, {args.pces:,} PCEs × 3 days restated: landing {landed:.1f} s; "
            f"curated update {updated:.1f} s for {keys:,} keys "
            f"({'ok' if updated <= GOAL_UPDATE_SECONDS else 'MISSED'})"
        )


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*.parquet"))


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
