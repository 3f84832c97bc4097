"""Curated rows written per second from a large synthetic ADICT informative stream.

The stream is real sandbox NDJSON (every Swagger key, offsets, nulls), replicated to the
requested size. Three figures: parsing the stream (with trailer and status checks),
flattening into typed Arrow columns, and the whole landing (parse, flatten, stage,
rebuild the monthly Parquet partitions, rename).

Then, side by side in the same run, from the same blocks stored as the raw zone stores
them (one zstd NDJSON answer per PCE): a bare DuckDB `read_json` -> Parquet, and the
DuckLake landing (`warehouse/from_json.py`'s strict read typing in SQL, the lenient one
as fallback; `warehouse/landing.py`'s one transaction into a table partitioned by month,
every answer's months re-fetched), first into an empty table, then again over it (a
re-run: every row replaced). The three alternate, run after run, so a busy machine slows
them alike; medians of `--repeat` runs, wall and CPU seconds, ratio of wall times.

    .venv/bin/python bench/landing_throughput.py --blocks 300000
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa

from pipelines.partitions import month_key
from resources.adict import _outcome
from resources.streams import iter_json_objects, split_trailer
from sandbox.adict_data import SUCCESS_TRAILER, DataType, Window, build_portfolio, stream_blocks
from warehouse.adict import INFORMATIVE_CONSUMPTION
from warehouse.from_json import json_columns, select_list
from warehouse.lake import Lake, connect, sql_string
from warehouse.landing import create_table, land
from warehouse.store import PartitionStore, Replacement


def synthetic_stream(blocks: int) -> bytes:
    """A JJ meter's three years of daily blocks, copied under other PCE ids up to `blocks`."""
    today = date.today()
    portfolio = build_portfolio(seed=7, size=20, anchor=today)
    meter = portfolio.pces[0]
    window = Window(today - timedelta(days=1095), today - timedelta(days=1))
    template = [
        orjson.dumps(b)
        for b in stream_blocks(portfolio, meter.id_pce, DataType.INFORMATIVE, window, today)
    ]
    lines = []
    for copy in range(blocks // len(template) + 1):
        other_id = f"{copy:014d}".encode()
        lines += [line.replace(meter.id_pce.encode(), other_id) for line in template]
    return b"\n".join([*lines[:blocks], orjson.dumps(SUCCESS_TRAILER)]) + b"\n"


def chunks(body: bytes, size: int = 65_536) -> list[bytes]:
    return [body[i : i + size] for i in range(0, len(body), size)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    body = synthetic_stream(args.blocks)
    print(f"stream: {args.blocks:,} blocks, {len(body) / 1e6:.0f} MB of NDJSON")

    started = time.perf_counter()
    records, trailer = split_trailer(iter_json_objects(chunks(body)))
    outcome = _outcome("bench", records)
    parsed = time.perf_counter()
    table = INFORMATIVE_CONSUMPTION.to_arrow(outcome.blocks, datetime.now(UTC))
    flattened = time.perf_counter()
    assert trailer is not None and trailer.ok and table.num_rows == args.blocks

    with tempfile.TemporaryDirectory() as tmp:
        store = PartitionStore(Path(tmp), INFORMATIVE_CONSUMPTION)
        days = table.column("journee_gaziere").to_pylist()
        with store.landing(lambda a, b: []) as landing:
            landing.add(table, [month_key(d) for d in days])
        landed = time.perf_counter()
        size = sum(p.stat().st_size for p in Path(tmp).rglob("data.parquet"))
        files = len(store.partitions())

    def rate(seconds: float) -> str:
        return f"{args.blocks / seconds:>10,.0f} blocks/s  ({seconds:.2f} s)"

    print(f"parse + trailer/status checks   {rate(parsed - started)}")
    print(f"flatten into typed Arrow        {rate(flattened - parsed)}")
    print(f"stage + rebuild {files} monthly files {rate(landed - flattened)}")
    print(f"end to end                      {rate(landed - started)}")
    print(f"Parquet on disk: {size / 1e6:.1f} MB (copies of one meter: not a realistic ratio)")
    ducklake_side_by_side(body, args.blocks, args.repeat)


BARE = "bare read_json -> one Parquet file"
EMPTY = "DuckLake landing, empty table"
RERUN = "DuckLake landing, re-run over it"


def raw_answers(
    body: bytes, folder: Path, fetched_at: datetime
) -> tuple[list[Path], list[Replacement]]:
    """The stream's blocks as one zstd NDJSON answer per PCE, and what each answer covers."""
    by_pce: dict[str, list[bytes]] = {}
    for line in body.splitlines()[:-1]:  # the trailer is checked at fetch time, not stored
        by_pce.setdefault(orjson.loads(line)["pce"]["id_pce"], []).append(line)
    folder.mkdir(parents=True)
    files, covered = [], []
    for pce, lines in by_pce.items():
        path = folder / f"{pce}.ndjson.zst"
        with pa.CompressedOutputStream(str(path), "zstd") as out:
            out.write(b"\n".join(lines) + b"\n")
        files.append(path)
        covered.append(Replacement(pce, date(2000, 1, 1), date(2100, 1, 1), fetched_at))
    return files, covered


def ducklake_side_by_side(body: bytes, blocks: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        fetched_at = datetime.now(UTC)
        files, covered = raw_answers(body, Path(tmp) / "raw", fetched_at)
        listed = "[" + ", ".join(sql_string(str(f)) for f in files) + "]"
        options = "format = 'newline_delimited', compression = 'zstd'"
        spec = INFORMATIVE_CONSUMPTION

        def bare(run: int) -> Callable[[], None]:
            con = connect()
            target = sql_string(str(Path(tmp) / f"bare-{run}.parquet"))
            return lambda: con.execute(
                f"COPY (SELECT * FROM read_json({listed}, {options})) TO {target} "
                "(FORMAT parquet, COMPRESSION zstd)"
            )

        def read(con: duckdb.DuckDBPyConnection, strict: bool) -> duckdb.DuckDBPyRelation:
            return con.sql(
                f"SELECT {select_list(spec.columns, strict)}, "
                f"{sql_string(fetched_at.isoformat())}::TIMESTAMPTZ AS fetched_at, "
                "strftime(journee_gaziere, '%Y-%m') AS month FROM read_json("
                f"{listed}, {options}, columns = {json_columns(spec.columns, strict)})"
            )

        def lake_landing(run: int, times: int) -> Callable[[], None]:
            """A landing of every answer (all their months re-fetched), after `times - 1`."""
            lake = Lake.at(Path(tmp) / f"home-{run}", "ducklake:sqlite:warehouse.sqlite")
            con = lake.open()
            lake.write(con, lambda c: create_table(c, spec))
            months = [m for (m,) in read(con, True).unique("month").fetchall()]

            def landing() -> None:
                land(lake, con, spec, read(con, True), covered, months, lenient=read(con, False))

            for _ in range(times - 1):
                landing()
            return landing

        figures: dict[str, list[tuple[float, float]]] = {
            BARE: [],
            EMPTY: [],
            RERUN: [],
        }
        for run in range(repeat):  # interleaved: a busy machine slows all three alike
            figures[BARE].append(_timed(bare(run)))
            figures[EMPTY].append(_timed(lake_landing(run, 1)))
            figures[RERUN].append(_timed(lake_landing(100 + run, 2)))
    anchor = statistics.median(wall for wall, _ in figures[BARE])
    print(f"from {len(files)} raw answers (zstd NDJSON), medians of {repeat}:")
    for name, timings in figures.items():
        wall = statistics.median(w for w, _ in timings)
        cpu = statistics.median(c for _, c in timings)
        print(
            f"  {name:<34} {blocks / wall:>10,.0f} blocks/s  ({wall:.2f} s, cpu {cpu:.2f} s)"
            f"  ratio to bare {anchor / wall:.2f}"
        )


def _timed(action: Callable[[], object]) -> tuple[float, float]:
    """Wall and CPU seconds (all of this process's threads) of `action`."""
    started, cpu = time.perf_counter(), time.process_time()
    action()
    return time.perf_counter() - started, time.process_time() - cpu


if __name__ == "__main__":
    main()
