"""A gazoduc process of another machine, for the scale-out tests: its own GAZODUC_HOME,
the shared mode's settings from its environment (as `WarehouseResource` reads them).

python -m tests.scale_out.shared_worker writer <home> <table> <writer> <commits> <go-file>
python -m tests.scale_out.shared_worker count <home> <table>

A writer writes `<home>/ready` once the warehouse is attached, then waits for the go file
so that all start at one instant; each commit replaces all its rows (its scope) by one
day's, as a landing replaces what it re-fetched. `count` prints the table's rows per writer, as JSON.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import duckdb

from resources.warehouse import lake_of

ROWS_PER_COMMIT = 200


def writer(home: Path, table: str, name: str, commits: int, go: Path) -> int:
    lake = lake_of(home)
    home.mkdir(parents=True, exist_ok=True)
    with lake.open() as con:
        create = f"CREATE TABLE IF NOT EXISTS {table} (writer VARCHAR, day INT, n INT)"
        lake.write(con, lambda c: c.execute(create))
        (home / "ready").touch()
        while not go.exists():
            time.sleep(0.01)
        for day in range(commits):

            def land(c: duckdb.DuckDBPyConnection, day: int = day) -> None:
                c.execute(f"DELETE FROM {table} WHERE writer = ?", [name])
                c.execute(
                    f"INSERT INTO {table} SELECT ?, ?, range FROM range(?)",
                    [name, day, ROWS_PER_COMMIT],
                )

            lake.write(con, land, f"{name} day {day}")
    return 0


def count(home: Path, table: str) -> int:
    with lake_of(home).open(read_only=True) as con:
        rows = con.execute(f"SELECT writer, count(*) FROM {table} GROUP BY ALL").fetchall()
    print(json.dumps(dict(rows)))
    return 0


if __name__ == "__main__":
    role, home, table, *rest = sys.argv[1:]
    if role == "writer":
        sys.exit(writer(Path(home), table, rest[0], int(rest[1]), Path(rest[2])))
    sys.exit(count(Path(home), table))
