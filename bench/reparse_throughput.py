"""`gazoduc reparse` throughput: curated rows rebuilt per second from the raw zone.

Fills a raw zone with N PCEs x 3 years of real sandbox informative answers (one stored
answer per PCE, as a backfill leaves them), then times the rebuild, which makes no call.

    .venv/bin/python bench/reparse_throughput.py --pces 200
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import timedelta
from pathlib import Path

import orjson

from pipelines.operations import reparse
from pipelines.partitions import paris_today
from resources.warehouse import WarehouseResource
from sandbox.adict_data import SUCCESS_TRAILER, DataType, Window, build_portfolio, stream_blocks
from warehouse.raw import RawZone


def fill(raw: RawZone, pces: int) -> int:
    today = paris_today()
    portfolio = build_portfolio(seed=7, size=20, anchor=today)
    meter = portfolio.pces[0]
    first, last = today - timedelta(days=1095), today - timedelta(days=1)
    blocks = list(
        stream_blocks(portfolio, meter.id_pce, DataType.INFORMATIVE, Window(first, last), today)
    )
    template = b"\n".join([*(orjson.dumps(b) for b in blocks), orjson.dumps(SUCCESS_TRAILER)])
    for i in range(pces):
        id_pce = f"{i:014d}"
        body = template.replace(meter.id_pce.encode(), id_pce.encode())
        raw.put("adict", "informative_consumption", id_pce, first, last, body, "data", len(blocks))
    return pces * len(blocks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pces", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        warehouse = WarehouseResource(home=home)
        records = fill(warehouse.raw_zone(), args.pces)
        raw_bytes = sum(p.stat().st_size for p in Path(home, "raw").rglob("*.zst"))
        done = reparse(warehouse, "informative_consumption")
        result, seconds = done.result, done.seconds
    print(f"raw zone: {args.pces:,} answers, {records:,} blocks, {raw_bytes / 1e6:.1f} MB zstd")
    print(
        f"reparse: {result.rows:,} rows into {result.partitions} monthly partitions "
        f"in {seconds:.1f} s = {result.rows / seconds:,.0f} rows/s, 0 calls"
    )


if __name__ == "__main__":
    main()
