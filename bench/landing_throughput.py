"""Curated rows written per second from a large synthetic ADICT informative stream.

The stream is real sandbox NDJSON (every Swagger key, offsets, nulls), replicated to the
requested size. Three figures: parsing the stream (with trailer and status checks),
flattening into typed Arrow columns, and the whole landing (parse, flatten, stage,
rebuild the monthly Parquet partitions, rename).

    .venv/bin/python bench/landing_throughput.py --blocks 300000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import orjson

from pipelines.partitions import month_key
from resources.adict import _outcome
from resources.streams import iter_json_objects, split_trailer
from sandbox.adict_data import SUCCESS_TRAILER, DataType, Window, build_portfolio, stream_blocks
from warehouse.adict import INFORMATIVE_CONSUMPTION
from warehouse.store import PartitionStore


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


if __name__ == "__main__":
    main()
