"""`gazoduc sql` and `gazoduc warehouse maintain`: the warehouse from a terminal.

`gazoduc sql` is the DuckDB shell of the pinned version (the `duckdb-cli` package) started
with `$GAZODUC_HOME/bi/attach.sql`, the script BI tools run: what an analyst sees there is
what Metabase sees. It attaches read-only; `--write` attaches writable and holds the
writer lock until the shell quits, so landings wait instead of failing on a locked catalog
(an embedded one: a shared catalog on PostgreSQL has no lock, see warehouse/lake.py).

The attach string may carry a password (a Postgres catalog): every message printed here
goes through `masked` first. The script itself names no password or key of the shared
mode: the shell gets them in its environment (PGPASSWORD, AWS_*; see `Lake.write_bi_script`).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

import duckdb

from resources.settings import SettingError, gazoduc_home, read
from resources.warehouse import lake_of
from warehouse.lake import Lake, MissingExtension, WarehouseNotFound, masked, write_private
from warehouse.maintenance import maintain

CLI_PACKAGE = "duckdb-cli"
# What opening the warehouse can fail with, as a message and not as a traceback.
OPEN_ERRORS = (WarehouseNotFound, MissingExtension, duckdb.Error, ValueError, OSError)


class MissingShell(RuntimeError):
    """The duckdb-cli package is not installed."""


def sql_main(write: bool, command: str | None) -> int:
    """The shell on the warehouse: `command` and exit, else statements from stdin (a
    terminal: interactively, with history, `.tables`, `.quit`)."""
    try:
        lake = lake_of(gazoduc_home())
        shell = duckdb_shell()
        # Attach here first: a bad catalog or a missing extension is reported, masked,
        # before the shell prints its own unmasked error.
        lake.open(read_only=not write).close()
        script = lake.write_bi_script()
    except (*OPEN_ERRORS, MissingShell, SettingError) as error:
        print(f"gazoduc sql: {masked(str(error))}", file=sys.stderr)
        return 1
    arguments = ["-c", command] if command is not None else []
    with ExitStack() as stack:
        if write:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            script = writable_script(lake, script, folder)
            stack.enter_context(lake.writer_lock())
        environment = {**os.environ, **lake.script_environment()}
        return subprocess.call([str(shell), "-init", str(script), *arguments], env=environment)


def duckdb_shell() -> Path:
    """The `duckdb` executable of the installed duckdb-cli package."""
    spec = importlib.util.find_spec(CLI_PACKAGE.replace("-", "_"))
    if spec is None or not spec.submodule_search_locations:
        raise MissingShell(f"pip install '{CLI_PACKAGE}=={duckdb.__version__}'")
    return Path(next(iter(spec.submodule_search_locations))) / "duckdb"


def writable_script(lake: Lake, bi_script: Path, folder: Path) -> Path:
    """The BI script with the writable attach: the same extension files and options. In a
    private temporary folder (the attach string may carry a password)."""
    read_only, writable = (
        lake.attach_sql(read_only=True),
        lake.attach_sql(),
    )
    script = folder / "attach-write.sql"
    write_private(script, bi_script.read_text().replace(read_only, writable))
    return script


def maintain_main() -> int:
    """`gazoduc warehouse maintain`: what it did, one line per step."""
    try:
        retention = timedelta(days=read("GAZODUC_SNAPSHOT_RETENTION_DAYS"))
        lake = lake_of(gazoduc_home())
        print(f"warehouse {masked(lake.metadata)}")
        done = maintain(lake, retention)
    except (*OPEN_ERRORS, SettingError) as error:
        print(f"gazoduc warehouse maintain: {masked(str(error))}", file=sys.stderr)
        return 1
    print("\n".join(done.lines()))
    return 0
