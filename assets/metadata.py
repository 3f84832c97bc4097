"""What a materialization shows in the Dagster UI besides counts: a preview and a plot.

The preview is a `MetadataValue.table` of the first rows the run landed, without the
holder's personal data even when the operator keeps it. The plot of energy per gas day is
a small PNG drawn with matplotlib's Agg renderer (no display, no pyplot global state) and
embedded as a base64 data URI in a `MetadataValue.md`: the UI renders markdown metadata,
images included, as the Dagster tutorial's HackerNews word-count chart does.

A single-run backfill records one materialization per partition, each with this metadata:
the PNG is kept small (about 10 kB) for that reason.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from datetime import date, datetime

import dagster as dg
from matplotlib.figure import Figure

from assets.checks import Scope, landed_rows
from warehouse.lake_table import LakeTable
from warehouse.store import FETCHED_AT

PREVIEW_ROWS = 10
PLOT_SIZE_INCHES, PLOT_DPI = (6.0, 2.2), 80


def landed_metadata(
    store: LakeTable, scope: Scope, energy_column: str | None = "energie"
) -> dict[str, dg.MetadataValue]:
    """`preview` of the landed rows, and `daily_energy` when the table has an energy."""
    metadata = {"preview": preview_table(store, scope)}
    if energy_column is not None and store.spec.day_sql is not None and scope.days:
        metadata["daily_energy"] = daily_totals_plot(store, scope, energy_column)
    return metadata


def preview_table(store: LakeTable, scope: Scope) -> dg.MetadataValue:
    spec = store.spec
    names = [c.name for c in spec.columns if not c.personal]
    with landed_rows(store, scope) as con:
        available = {d[0] for d in con.execute("SELECT * FROM landed LIMIT 0").description}
        shown = [n for n in names if n in available] + [FETCHED_AT.name]
        rows = con.execute(
            f"SELECT {', '.join(shown)} FROM landed ORDER BY {', '.join(spec.key)} "
            f"LIMIT {PREVIEW_ROWS}"
        ).fetchall()
    return dg.MetadataValue.table(
        records=[dg.TableRecord(dict(zip(shown, map(_cell, row), strict=True))) for row in rows],
        schema=dg.TableSchema(columns=[dg.TableColumn(n) for n in shown]),
    )


def daily_totals_plot(store: LakeTable, scope: Scope, energy_column: str) -> dg.MetadataValue:
    """Total energy per gas day of the scope (a multi-day block counts on its last day)."""
    with landed_rows(store, scope) as con:
        totals = con.execute(
            f"SELECT {store.spec.day_sql} AS day, sum(old.{energy_column}) "
            "FROM landed AS old GROUP BY day ORDER BY day"
        ).fetchall()
    png = plot_png(
        [d for d, _ in totals], [float(t or 0) for _, t in totals], f"{store.spec.name}, kWh"
    )
    encoded = base64.b64encode(png).decode("ascii")
    return dg.MetadataValue.md(f"![energy per gas day](data:image/png;base64,{encoded})")


def plot_png(days: Sequence[date], totals: Sequence[float], title: str) -> bytes:
    figure = Figure(figsize=PLOT_SIZE_INCHES, dpi=PLOT_DPI, layout="constrained")
    axes = figure.subplots()
    if len(days) <= 62:  # a few weeks read best as bars; years as a line
        axes.bar(days, totals, width=0.8, color="#3b6ea8")
    else:
        axes.plot(days, totals, linewidth=1, color="#3b6ea8")
    axes.set_title(title, fontsize=9)
    axes.tick_params(labelsize=7)
    axes.grid(axis="y", alpha=0.3)
    figure.autofmt_xdate()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _cell(value: object) -> str | int | float | bool | None:
    """A value a `TableRecord` accepts: dates and timestamps as ISO text."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)
