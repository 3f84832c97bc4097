"""Warehouse writers and readers in their own processes, for the concurrency tests.

python -m tests.integration.lake_worker writer <home> <table> <commits> <go-file>
python -m tests.integration.lake_worker reader <home> <stop-file>

Each writes `<home>/<role>-<table|reader>.ready` once its extensions are loaded and the
warehouse attached (that takes about a second), then waits for its go/stop file, so the
test starts them all at one instant. A reader prints one JSON line: its queries, errors
and the distinct states it saw.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import duckdb

from warehouse.lake import Lake

ROWS_PER_COMMIT = 200
READER_TABLE = "landings"
READER_ROWS = 3000  # several files per landing: a half landing would show in the counts


def _wait_for(path: Path, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.01)


def writer(home: Path, table: str, commits: int, go: Path) -> int:
    """`commits` landings into `table`, each replacing one day's rows, as a run does."""
    lake = Lake.at(home)
    with lake.open() as con:
        lake.write(con, lambda c: c.execute(f"CREATE TABLE IF NOT EXISTS {table} (day INT, n INT)"))
        (home / f"writer-{table}.ready").touch()
        _wait_for(go)
        for day in range(commits):

            def land(c: duckdb.DuckDBPyConnection, day: int = day) -> None:
                c.execute(f"DELETE FROM {table} WHERE day = ?", [day])
                c.execute(
                    f"INSERT INTO {table} SELECT ?, range FROM range(?)", [day, ROWS_PER_COMMIT]
                )

            lake.write(con, land)
    return 0


def reader(home: Path, stop: Path) -> int:
    """Query in a loop until `stop` exists, then once more; report what was seen."""
    queries, errors, states = 0, [], set()
    with Lake.at(home).open(read_only=True) as con:
        (home / "reader.ready").touch()
        while True:
            last = stop.exists()
            try:
                state = con.execute(
                    f"SELECT count(*), min(k), max(k) FROM {READER_TABLE}"
                ).fetchone()
                states.add(state)
            except duckdb.Error as error:
                errors.append(str(error))
            queries += 1
            if last:
                break
    print(json.dumps({"queries": queries, "errors": errors, "states": sorted(states)}))
    return 0


if __name__ == "__main__":
    role, home, *rest = sys.argv[1:]
    if role == "writer":
        sys.exit(writer(Path(home), rest[0], int(rest[1]), Path(rest[2])))
    sys.exit(reader(Path(home), Path(rest[0])))
