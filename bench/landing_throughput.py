"""Landing from the raw zone: blocks per second, the project's landing beside a bare DuckDB.

The stream is real sandbox NDJSON (every Swagger key, offsets, nulls): a JJ meter's three
years of informative blocks, copied under other PCE ids up to `--blocks`, stored in a raw
zone as the fetch stores it (one zstd NDJSON answer per PCE, with its manifest row).
Side by side in the same run, from the same files:
- a bare DuckDB `read_json` -> one Parquet file (no typing, no checks, no catalog);
- the project's landing, `warehouse.build.build_windows` as the assets and `gazoduc
  reparse` call it: checksums of the stored files, `read_json` typed in SQL
  (`warehouse/from_json.py`), staged, then one DuckLake transaction into
  `adict.informative_consumption` (partitioned by month, sorted by key), with the scope
  deletes of every answer; first into an empty warehouse, then again over it (a re-run:
  every row replaced).
The three alternate, run after run, so a busy machine slows them alike; medians of
`--repeat` runs, wall and CPU seconds, ratio of wall times.

    .venv/bin/python bench/landing_throughput.py --blocks 300000
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import orjson

from resources.adict import read_window
from sandbox.adict_data import SUCCESS_TRAILER, DataType, Window, build_portfolio, stream_blocks
from warehouse.adict import INFORMATIVE_CONSUMPTION
from warehouse.build import build_windows
from warehouse.lake import Lake, connect, sql_string
from warehouse.lake_table import LakeTable, session
from warehouse.raw import Answer, RawZone


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    body = synthetic_stream(args.blocks)
    print(f"stream: {args.blocks:,} blocks, {len(body) / 1e6:.0f} MB of NDJSON")
    side_by_side(body, args.blocks, args.repeat)


BARE = "bare read_json -> one Parquet file"
EMPTY = "the project's landing, empty warehouse"
RERUN = "the project's landing, re-run over it"


def raw_zone(body: bytes, home: Path) -> tuple[RawZone, list[Answer]]:
    """The stream's blocks as one stored answer per PCE, as the fetch stores them."""
    by_pce: dict[str, list[bytes]] = {}
    for line in body.splitlines()[:-1]:
        by_pce.setdefault(orjson.loads(line)["pce"]["id_pce"], []).append(line)
    raw, trailer = RawZone(home), orjson.dumps(SUCCESS_TRAILER)
    first, last = date.today() - timedelta(days=1095), date.today() - timedelta(days=1)
    answers = [
        raw.put(
            "adict", SPEC.name, pce, first, last, b"\n".join([*lines, trailer]), "data", len(lines)
        )
        for pce, lines in by_pce.items()
    ]
    return raw, answers


SPEC = INFORMATIVE_CONSUMPTION


def side_by_side(body: bytes, blocks: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        raw, answers = raw_zone(body, Path(tmp) / "raw-home")
        listed = "[" + ", ".join(sql_string(str(raw.file(a))) for a in answers) + "]"
        first, last = answers[0].first_day, answers[0].last_day

        def bare(run: int) -> Callable[[], None]:
            con = connect()
            target = sql_string(str(Path(tmp) / f"bare-{run}.parquet"))
            return lambda: con.execute(
                f"COPY (SELECT * FROM read_json({listed}, format = 'newline_delimited', "
                f"compression = 'zstd')) TO {target} (FORMAT parquet, COMPRESSION zstd)"
            )

        def landing(run: int, times: int) -> Callable[[], None]:
            """The project's landing of every answer, after `times - 1` of them."""
            table = LakeTable(Lake.at(Path(tmp) / f"home-{run}"), SPEC)
            session(table.lake).close()  # the extensions load once per process, not timed

            def land() -> None:
                build_windows(table, raw, answers, first, last, read_window)

            for _ in range(times - 1):
                land()
            return land

        figures: dict[str, list[tuple[float, float]]] = {BARE: [], EMPTY: [], RERUN: []}
        for run in range(repeat):  # interleaved: a busy machine slows all three alike
            figures[BARE].append(_timed(bare(run)))
            figures[EMPTY].append(_timed(landing(run, 1)))
            figures[RERUN].append(_timed(landing(100 + run, 2)))
    anchor = statistics.median(wall for wall, _ in figures[BARE])
    print(f"from {len(answers)} stored answers (zstd NDJSON), medians of {repeat}:")
    for name, timings in figures.items():
        wall = statistics.median(w for w, _ in timings)
        cpu = statistics.median(c for _, c in timings)
        print(
            f"  {name:<40} {blocks / wall:>10,.0f} blocks/s  ({wall:.2f} s, cpu {cpu:.2f} s)"
            f"  ratio to bare {anchor / wall:.2f}"
        )


def _timed(action: Callable[[], object]) -> tuple[float, float]:
    """Wall and CPU seconds (all of this process's threads) of `action`."""
    started, cpu = time.perf_counter(), time.process_time()
    action()
    return time.perf_counter() - started, time.process_time() - cpu


if __name__ == "__main__":
    main()
