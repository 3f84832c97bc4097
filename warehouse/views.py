"""Curated views: the questions BI users ask, answered once in SQL over the table views.

Each view is one file `warehouse/views/<schema>.<name>.sql` holding a SELECT, so it can be
read, reviewed and run in the DuckDB CLI as it is. Its header names the tables and views it
reads on a `-- sources:` line; a view whose sources have not landed yet is skipped, and a
view may read another curated view (the monthly sums read the daily view).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources

import duckdb

log = logging.getLogger(__name__)

SOURCES_LINE = re.compile(r"^--\s*sources:\s*(.+)$", re.MULTILINE)


@dataclass(frozen=True)
class CuratedView:
    name: str  # schema.view, from the file name
    sql: str  # the SELECT, header comments included
    sources: frozenset[str]

    @property
    def schema(self) -> str:
        return self.name.split(".", 1)[0]

    def create_sql(self) -> str:
        return f"CREATE OR REPLACE VIEW {self.name} AS\n{self.sql.strip().rstrip(';')}"


def parse_view(name: str, sql: str) -> CuratedView:
    match = SOURCES_LINE.search(sql)
    if match is None:
        raise ValueError(f"{name}.sql has no '-- sources:' line")
    sources = frozenset(s.strip() for s in match.group(1).split(",") if s.strip())
    return CuratedView(name, sql, sources)


def curated_views() -> list[CuratedView]:
    """Every view shipped in the package, by name."""
    folder = resources.files("warehouse") / "views"
    files = [f for f in folder.iterdir() if f.name.endswith(".sql")]
    return sorted(
        (parse_view(f.name.removesuffix(".sql"), f.read_text("utf-8")) for f in files),
        key=lambda view: view.name,
    )


def buildable(views: list[CuratedView], available: set[str]) -> list[CuratedView]:
    """The views whose sources are available, dependencies first."""
    ready, known, pending = [], set(available), list(views)
    progress = True
    while progress:
        progress = False
        for view in list(pending):
            if view.sources <= known:
                ready.append(view)
                known.add(view.name)
                pending.remove(view)
                progress = True
    for view in pending:
        log.info(
            "%s skipped: %s not landed yet", view.name, ", ".join(sorted(view.sources - known))
        )
    return ready


def create_curated_views(
    con: duckdb.DuckDBPyConnection,
    available: set[str],
    views: list[CuratedView] | None = None,
) -> list[str]:
    """Create every curated view whose sources are in `available` (schema.table names);
    return the names created."""
    created = []
    for view in buildable(curated_views() if views is None else views, available):
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {view.schema}")
        con.execute(view.create_sql())
        created.append(view.name)
    return created
