"""Writers of the shared catalog take turns: two landings of the same new keys at once
leave one row per key (DuckLake on PostgreSQL commits two transactions that only insert)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from resources.warehouse import lake_of
from tests.scale_out.s3 import Shared, moto_endpoint, shared

__all__ = ["moto_endpoint", "shared"]  # the fixtures, used by name
pytestmark = pytest.mark.scale_out


def test_two_landings_of_the_same_new_keys_at_once_leave_one_row_per_key(
    shared: Shared, home: Path
) -> None:
    lake = lake_of(home)
    with lake.open() as con:
        lake.write(con, lambda c: c.execute("CREATE TABLE t (k INTEGER, writer INTEGER)"))
    both_in = threading.Barrier(2)

    def land(writer: int) -> None:
        def work(con) -> None:  # type: ignore[no-untyped-def]
            con.execute("DELETE FROM t WHERE k IN (1, 2, 3)")  # nothing yet: insert-only
            both_in.wait(timeout=5) if writer == 0 else None
            con.execute("INSERT INTO t SELECT k, ? FROM range(1, 4) AS r(k)", [writer])

        with lake.open() as con:
            if writer == 1:
                both_in.wait(timeout=5)  # the other is inside its transaction
            lake.write(con, work)

    threads = [threading.Thread(target=land, args=(w,)) for w in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    with lake.open(read_only=True) as con:
        rows = con.execute("SELECT k, count(*) FROM t GROUP BY k ORDER BY k").fetchall()
    assert rows == [(1, 1), (2, 1), (3, 1)]
