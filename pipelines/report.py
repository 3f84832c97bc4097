"""`gazoduc report`: one self-contained HTML page an operator can open or e-mail.

The page shows what landed (rows and distinct PCEs per table and month, for every view of
the catalog, so GRTgaz tables and curated views appear as soon as they exist), the quota
spent per Paris day against the daily budget, the daily energy totals, and when each table
was last fetched. Charts are PNGs embedded as base64, and also written beside the page.
Only aggregates are shown: no column of a table is ever printed, so personal data cannot
leak into the page. The chart helpers (`coverage_png`, `quota_png`, `energy_png`) take
plain records and return PNG bytes, for reuse in Dagster materialization metadata.
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import logging
import math
import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

from resources.quota import (
    PARIS,
    LedgerAt,
    LedgerError,
    ledger_at,
    paris_day,
    rejection_records,
    usage_by_client,
)
from resources.settings import daily_budget, database_url, gazoduc_home
from resources.warehouse import ALL_TABLES, lake_of
from warehouse.lake import WarehouseNotFound
from warehouse.landing import PARTITION_TYPES

log = logging.getLogger(__name__)

REPORT_FILE = "report.html"
CHART_FILES = {"coverage": "coverage.png", "energy": "energy.png", "quota": "quota.png"}
MAX_ANNOTATED_CELLS = 300  # beyond this the heatmap's numbers are unreadable: colours only
SCOPE_COLUMNS = {(s.schema, s.name): s.scope_column for s in ALL_TABLES}

# Daily energy per series: (label, view, SQL). Published blocks span a month or more:
# their energy is spread evenly over their gas days (06:00 Europe/Paris) so both series
# read as kWh per gas day on the same axis.
_PUBLISHED_DAILY_SQL = """
WITH blocks AS (
    SELECT energie,
        coalesce(journee_gaziere, CAST(timezone('Europe/Paris', date_debut_consommation)
            - INTERVAL 6 HOUR AS DATE)) AS first_day,
        coalesce(journee_gaziere, CAST(timezone('Europe/Paris', date_fin_consommation)
            - INTERVAL '6 hours 1 microsecond' AS DATE)) AS last_day
    FROM adict.published_consumption WHERE energie IS NOT NULL
)
SELECT day, sum(share) FROM (
    SELECT CAST(unnest(generate_series(first_day, last_day, INTERVAL 1 DAY)) AS DATE) AS day,
        energie / (last_day - first_day + 1) AS share
    FROM blocks WHERE first_day IS NOT NULL AND last_day >= first_day
) GROUP BY day ORDER BY day
"""
_INFORMATIVE_DAILY_SQL = """
SELECT journee_gaziere, sum(energie) FROM adict.informative_consumption
WHERE journee_gaziere IS NOT NULL AND energie IS NOT NULL GROUP BY 1 ORDER BY 1
"""
ENERGY_SERIES: tuple[tuple[str, str, str], ...] = (
    ("informative consumption", "adict.informative_consumption", _INFORMATIVE_DAILY_SQL),
    ("published consumption", "adict.published_consumption", _PUBLISHED_DAILY_SQL),
)


@dataclass(frozen=True)
class MonthCoverage:
    table: str  # schema.view
    month: str  # YYYY-MM
    rows: int
    pces: int | None  # None: the table has no PCE (scope) column


@dataclass(frozen=True)
class TableSummary:
    name: str
    rows: int = 0
    pces: int | None = None
    last_fetched: datetime | None = None
    months: tuple[MonthCoverage, ...] = ()
    error: str | None = None  # the view could not be read (files moved away...)
    landed: bool = True  # False: a curated view over other views (warehouse/views/)


@dataclass(frozen=True)
class DailyQuota:
    api: str
    client: str
    day: date
    calls: int
    rejections: int = 0


@dataclass(frozen=True)
class RawOutcome:
    api: str
    dataset: str
    outcome: str
    answers: int
    records: int
    last_fetched: datetime | None


@dataclass
class Report:
    home: Path
    generated_at: datetime
    catalog_found: bool = False
    catalog_error: str | None = None
    tables: list[TableSummary] = field(default_factory=list)
    quota: list[DailyQuota] = field(default_factory=list)
    budgets: dict[str, int] = field(default_factory=dict)
    rejections: list[str] = field(default_factory=list)
    energy: dict[str, list[tuple[date, float]]] = field(default_factory=dict)
    raw: list[RawOutcome] = field(default_factory=list)
    sizes: dict[str, int] = field(default_factory=dict)  # label: bytes on disk

    @property
    def coverage(self) -> list[MonthCoverage]:
        """Landed tables only: curated views would show the same rows twice."""
        return [m for t in self.tables if t.landed for m in t.months]


# --- collecting --------------------------------------------------------------------------


def collect(home: Path, budgets: Mapping[str, int] | None = None) -> Report:
    """Everything the page shows, read from the catalog, the ledger and the raw manifest."""
    report = Report(home=home, generated_at=datetime.now(PARIS))
    lake = lake_of(home)
    report.sizes = {"warehouse (Parquet)": _tree_bytes(lake.data_path)}
    if lake.sqlite_catalog is not None:
        report.sizes["catalog"] = _tree_bytes(lake.sqlite_catalog)
    report.sizes["raw zone"] = _tree_bytes(home / "raw")
    try:
        with lake.open(read_only=True) as con:
            report.catalog_found = True
            report.tables = [_summarize(con, view) for view in _views(con)]
            report.energy = _energy(con, {t.name for t in report.tables if not t.error})
    except WarehouseNotFound:
        report.catalog_found = False
    except duckdb.Error as error:  # not a DuckLake catalog, or from a newer DuckLake
        log.warning("report: cannot open the warehouse: %s", error)
        report.catalog_found = True
        report.catalog_error = str(error).splitlines()[0]
    report.quota, report.rejections = _quota_use(ledger_at(home / "state", database_url()))
    report.budgets = dict(budgets) if budgets is not None else _known_budgets(report.quota)
    report.raw = _raw_outcomes(home / "state" / "raw.sqlite")
    return report


def _tree_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    total = 0
    for file in path.rglob("*"):
        try:
            if file.is_file() and ".staging" not in file.parts:
                total += file.stat().st_size
        except FileNotFoundError:  # a landing renamed it away meanwhile
            continue
    return total


@dataclass(frozen=True)
class _View:
    name: str  # schema.view
    columns: dict[str, str]  # name: DuckDB type
    landed: bool


def _views(con: duckdb.DuckDBPyConnection) -> list[_View]:
    """Every table of the warehouse with its columns' types, landed tables first: read
    generically, so a new source's tables are reported without a change here."""
    landed_tables = [f"{spec.schema}.{spec.name}" for spec in ALL_TABLES]
    rows = con.execute(
        "SELECT table_schema, table_name, column_name, data_type, "
        "table_schema || '.' || table_name IN (SELECT unnest(?::VARCHAR[])) "
        "FROM information_schema.columns WHERE table_catalog = current_database() "
        "AND table_schema NOT IN ('information_schema', 'pg_catalog', 'gazoduc') "
        "ORDER BY table_schema, table_name, ordinal_position",
        [landed_tables],
    ).fetchall()
    columns: dict[str, dict[str, str]] = defaultdict(dict)
    landed: dict[str, bool] = {}
    for schema, table, column, kind, is_landed in rows:
        columns[f"{schema}.{table}"][column] = kind.upper()
        landed[f"{schema}.{table}"] = bool(is_landed)
    views = [_View(name, cols, landed[name]) for name, cols in columns.items()]
    return sorted(views, key=lambda v: (not v.landed, v.name))


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _qualified(name: str) -> str:
    return ".".join(_ident(part) for part in name.split(".", 1))


def _month_sql(columns: Mapping[str, str]) -> str | None:
    """The month a row counts in: its hive key (month, snapshot_month, snapshot_date), else
    its first date column."""
    candidates = [c for c in PARTITION_TYPES if c in columns]
    candidates += [c for c, kind in columns.items() if kind in ("DATE", "TIMESTAMP")]
    if not candidates:
        return None
    name = candidates[0]
    if columns[name] == "VARCHAR":
        return f"left({_ident(name)}, 7)"
    return f"strftime(CAST({_ident(name)} AS DATE), '%Y-%m')"


def _scope_sql(name: str, columns: Mapping[str, str]) -> str | None:
    schema, _, table = name.partition(".")
    scope = SCOPE_COLUMNS.get((schema, table)) or "id_pce"
    return f"count(DISTINCT {_ident(scope)})" if scope in columns else None


def _summarize(con: duckdb.DuckDBPyConnection, view: _View) -> TableSummary:
    name, columns = view.name, view.columns
    month = _month_sql(columns) or "NULL"
    pces = _scope_sql(name, columns) or "NULL"
    fetched = "max(fetched_at)" if "fetched_at" in columns else "NULL"
    try:
        # GROUPING SETS: one scan gives the per-month rows and the whole table's totals.
        rows = con.execute(
            f"SELECT {month} AS m, grouping({month}) AS total, count(*), {pces}, {fetched} "
            f"FROM {_qualified(name)} GROUP BY GROUPING SETS (({month}), ()) ORDER BY m"
        ).fetchall()
    except duckdb.Error as error:
        log.warning("report: cannot read %s: %s", name, error)
        return TableSummary(name, error=str(error).splitlines()[0], landed=view.landed)
    totals = next(r for r in rows if r[1])  # an empty view still has its totals row
    months = tuple(
        MonthCoverage(name, key or "unknown", count, distinct)
        for key, is_total, count, distinct, _ in rows
        if not is_total
    )
    _, _, count, distinct, last = totals
    return TableSummary(name, count, distinct, _as_utc(last), months, landed=view.landed)


def _as_utc(value: object) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def _energy(
    con: duckdb.DuckDBPyConnection, readable: set[str]
) -> dict[str, list[tuple[date, float]]]:
    series = {}
    for label, view, sql in ENERGY_SERIES:
        if view not in readable:
            continue
        try:
            rows = con.execute(sql).fetchall()
        except duckdb.Error as error:  # a column renamed upstream: say so, show the rest
            log.warning("report: no %s totals: %s", label, error)
            continue
        if rows:
            series[label] = [(day, float(kwh)) for day, kwh in rows]
    return series


def _quota_use(ledger: LedgerAt) -> tuple[list[DailyQuota], list[str]]:
    """Calls per (api, client, Paris day) with the server's rejections of that day, and the
    latest rejections; none, with a warning, when the ledger cannot be read."""
    try:
        usage, rejections = usage_by_client(ledger), rejection_records(ledger)
    except LedgerError as error:  # a damaged file, an unreachable database
        log.warning("report: %s", error)
        return [], []
    rejected: dict[tuple[str, str, date], int] = defaultdict(int)
    for r in rejections:
        rejected[(r.api, r.client, paris_day(r.at))] += 1
    calls = {(u.api, u.client, u.day): u.used for u in usage}
    keys = sorted(set(calls) | set(rejected), key=lambda k: (k[2], k[0], k[1]))
    daily = [DailyQuota(*k, calls=calls.get(k, 0), rejections=rejected.get(k, 0)) for k in keys]
    return daily, [r.line() for r in rejections[:10]]


def _raw_outcomes(manifest: Path) -> list[RawOutcome]:
    rows = _sqlite_rows(
        manifest,
        "SELECT api, dataset, outcome, count(*), sum(records), max(fetched_at) FROM answers "
        "GROUP BY api, dataset, outcome ORDER BY api, dataset, outcome",
    )
    return [RawOutcome(a, d, o, n, int(r or 0), _parse_time(f)) for a, d, o, n, r, f in rows]


def _parse_time(text: str | None) -> datetime | None:
    try:
        return _as_utc(datetime.fromisoformat(text)) if text else None
    except ValueError:
        return None


def _sqlite_rows(path: Path, sql: str, params: tuple = ()) -> list[tuple]:
    """Rows of a state database, read-only; none if it does not exist yet."""
    if not path.exists():
        return []
    con = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=60)
    try:
        return con.execute(sql, params).fetchall()
    except sqlite3.Error as error:  # created but its schema not yet written, or damaged
        log.warning("report: cannot read %s: %s", path, error)
        return []
    finally:
        con.close()


def _known_budgets(quota: Iterable[DailyQuota]) -> dict[str, int]:
    """Each API's daily budget from `<API>_CALLS_PER_DAY` (or its declared default); the
    ledger itself does not keep the limits."""
    budgets = {}
    for api in sorted({q.api for q in quota}):
        try:
            budgets[api] = daily_budget(api)
        except (KeyError, ValueError):  # an API gazoduc has no setting for, or a bad value
            continue
    return budgets


# --- charts: plain records in, PNG bytes out ---------------------------------------------


def _figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)  # the Agg canvas: no display, no pyplot global state
    return figure


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _thousands(value: float, _: object = None) -> str:
    return f"{value:,.0f}"


def coverage_png(coverage: Sequence[MonthCoverage]) -> bytes:
    """A heatmap: one line per table, one column per month, colour = rows."""
    tables = sorted({c.table for c in coverage})
    months = sorted({c.month for c in coverage})
    grid = [[math.nan] * len(months) for _ in tables]
    for c in coverage:
        grid[tables.index(c.table)][months.index(c.month)] = c.rows or math.nan
    figure = _figure(max(6.0, 2.5 + 0.45 * len(months)), 1.4 + 0.4 * len(tables))
    axes = figure.add_subplot()
    norm = _rows_norm([c.rows for c in coverage if c.rows])
    image = axes.imshow(grid, aspect="auto", cmap="YlGnBu", norm=norm)
    axes.set_xticks(range(len(months)), months, rotation=90, fontsize=8)
    axes.set_yticks(range(len(tables)), tables, fontsize=8)
    if len(tables) * len(months) <= MAX_ANNOTATED_CELLS:
        for c in coverage:
            dark = c.rows > 0 and norm(c.rows) > 0.6  # white on the darkest blues
            axes.text(
                months.index(c.month),
                tables.index(c.table),
                f"{c.rows:,}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if dark else "black",
            )
    bar = figure.colorbar(image, ax=axes, label="rows", format=FuncFormatter(_thousands))
    bar.ax.yaxis.set_minor_formatter(NullFormatter())
    axes.set_title("Rows per table and month")
    return _png(figure)


def _rows_norm(rows: Sequence[int]) -> Normalize:
    """Log colours when tables differ by orders of magnitude (rights vs daily rows)."""
    low, high = min(rows, default=1), max(rows, default=1)
    if high >= 100 * low:
        return LogNorm(vmin=low, vmax=high)
    return Normalize(vmin=0, vmax=max(high, 1))


def quota_png(quota: Sequence[DailyQuota], budgets: Mapping[str, int]) -> bytes:
    """Calls per Paris day, one bar per API/client, the daily budget dashed, rejections red."""
    days = sorted({q.day for q in quota})
    clients = sorted({(q.api, q.client) for q in quota})
    figure = _figure(max(6.0, 2.0 + 0.7 * len(days) * len(clients) ** 0.5), 3.5)
    axes = figure.add_subplot()
    width = 0.8 / len(clients)
    for i, (api, client) in enumerate(clients):
        mine = [q for q in quota if (q.api, q.client) == (api, client)]
        xs = [days.index(q.day) + (i - (len(clients) - 1) / 2) * width for q in mine]
        bars = axes.bar(xs, [q.calls for q in mine], width, label=f"{api} {client}")
        axes.bar_label(bars, [f"{q.calls:,}" for q in mine], fontsize=7)
        rejected = [f"{q.rejections:,} rejected" if q.rejections else "" for q in mine]
        axes.bar_label(bars, rejected, padding=10, fontsize=7, color="crimson")
    _budget_lines(axes, quota, budgets)
    axes.set_xticks(range(len(days)), [d.isoformat() for d in days], rotation=45, fontsize=8)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.yaxis.set_major_formatter(FuncFormatter(_thousands))
    axes.margins(y=0.25)  # room for the labels above the bars
    axes.set_ylabel("calls")
    axes.legend(fontsize=7)
    return _png(figure)


def _budget_lines(axes: Axes, quota: Sequence[DailyQuota], budgets: Mapping[str, int]) -> None:
    """Draw a budget only when calls come near it: a 6,000 line would flatten 40 calls to
    nothing. The title gives every budget anyway."""
    peak = {api: max(q.calls for q in quota if q.api == api) for api in {q.api for q in quota}}
    shown = {api: b for api, b in sorted(budgets.items()) if api in peak}
    for api, budget in shown.items():
        if peak[api] >= 0.2 * budget:
            axes.axhline(budget, linestyle="--", color="grey", label=f"{api} budget")
    budget_text = ", ".join(f"{api} {b:,}/day" for api, b in shown.items())
    axes.set_title("Calls per Europe/Paris day" + (f" (budget {budget_text})" if shown else ""))


def energy_png(series: Mapping[str, Sequence[tuple[date, float]]]) -> bytes:
    """Daily energy totals, one line per series (kWh per gas day)."""
    figure = _figure(9.0, 3.5)
    axes = figure.add_subplot()
    for label, points in series.items():
        axes.plot(
            [d for d, _ in points],
            [v for _, v in points],
            label=label,
            linewidth=1.2,
            marker="." if len(points) < 60 else None,
        )
    axes.yaxis.set_major_formatter(FuncFormatter(_thousands))
    axes.set_ylabel("kWh per gas day")
    axes.set_title("Energy per gas day")
    axes.legend(fontsize=7)
    figure.autofmt_xdate()
    return _png(figure)


def data_uri(png: bytes) -> str:
    """A PNG as a `data:` URI: an <img> source, or a Markdown image in Dagster metadata."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def charts(report: Report) -> dict[str, bytes]:
    """The charts the report has data for, by name (see CHART_FILES)."""
    drawn = {}
    if any(c.rows for c in report.coverage):
        drawn["coverage"] = coverage_png(report.coverage)
    if report.energy:
        drawn["energy"] = energy_png(report.energy)
    if report.quota:
        drawn["quota"] = quota_png(report.quota, report.budgets)
    return drawn


# --- the page ----------------------------------------------------------------------------

_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 3px 8px; } th { background: #f3f3f3; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; } .note { color: #666; } .error { color: #b00020; }
dl { display: grid; grid-template-columns: max-content auto; gap: 2px 1em; }
dt { font-weight: 600; }
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _n(value: int | float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def _when(value: datetime | None) -> str:
    return "—" if value is None else f"{value.astimezone(PARIS):%Y-%m-%d %H:%M} Europe/Paris"


def _size(count: int) -> str:
    size = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _table(headers: Sequence[str], rows: Iterable[Sequence[object]], numeric: set[int]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{_e(v)}</td>' if i in numeric else f"<td>{_e(v)}</td>"
            for i, v in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _note(text: str, css: str = "note") -> str:
    return f'<p class="{css}">{_e(text)}</p>'


def _img(name: str, drawn: Mapping[str, bytes], alt: str) -> str:
    if name not in drawn:
        return ""
    return f'<p><img alt="{_e(alt)}" src="{data_uri(drawn[name])}"></p>'


def _header(report: Report) -> str:
    facts = {
        "generated": _when(report.generated_at),
        "home": str(report.home),
        **{label: _size(count) for label, count in report.sizes.items()},
    }
    items = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts.items())
    return f"<h1>gazoduc report</h1><dl>{items}</dl>"


def _tables_section(report: Report) -> str:
    out = "<h2>Tables</h2>"
    if not report.catalog_found:
        return out + _note(f"No warehouse in {report.home} yet: nothing has landed there.")
    if report.catalog_error:
        return out + _note(f"The catalog cannot be opened: {report.catalog_error}", "error")
    if not report.tables:
        return out + _note("The catalog has no tables yet.")
    rows = [
        (
            t.name,
            "landed" if t.landed else "curated",
            _n(t.rows),
            _n(t.pces),
            f"{t.months[0].month} … {t.months[-1].month}" if t.months else "—",
            _when(t.last_fetched),
        )
        for t in report.tables
        if not t.error
    ]
    headers = ["table", "kind", "rows", "PCEs", "months", "last fetch"]
    out += _table(headers, rows, {2, 3})
    for t in report.tables:
        if t.error:
            out += _note(f"{t.name}: cannot be read: {t.error}", "error")
        elif not t.rows:
            out += _note(f"{t.name}: empty table.")
    return out


def _coverage_section(report: Report, drawn: Mapping[str, bytes]) -> str:
    out = "<h2>Coverage per table and month</h2>"
    coverage = report.coverage
    if not coverage:
        return out + _note("No rows landed yet.")
    tables = sorted({c.table for c in coverage})
    cells = {(c.month, c.table): c for c in coverage}
    rows = []
    for month in sorted({c.month for c in coverage}, reverse=True):
        line = [month]
        for table in tables:
            c = cells.get((month, table))
            line.append("" if c is None else f"{_n(c.rows)} · {_n(c.pces)}")
        rows.append(line)
    numeric = set(range(1, len(tables) + 1))
    return (
        out
        + _img("coverage", drawn, "rows per table and month")
        + _table(["month", *tables], rows, numeric)
        + _note("Each cell: rows · distinct PCEs (the table's scope column) in the month.")
    )


def _energy_section(report: Report, drawn: Mapping[str, bytes]) -> str:
    out = "<h2>Energy (kWh)</h2>"
    if not report.energy:
        return out + _note("No consumption landed yet.")
    monthly: dict[str, dict[str, float]] = defaultdict(dict)
    for label, points in report.energy.items():
        for day, kwh in points:
            month = f"{day:%Y-%m}"
            monthly[month][label] = monthly[month].get(label, 0.0) + kwh
    labels = list(report.energy)
    rows = [
        [m, *(_n(monthly[m].get(label)) for label in labels)] for m in sorted(monthly, reverse=True)
    ]
    return (
        out
        + _img("energy", drawn, "energy per gas day")
        + _table(["month", *labels], rows, set(range(1, len(labels) + 1)))
        + _note(
            "Monthly sums of the chart's daily totals; published blocks are spread evenly "
            "over their gas days."
        )
    )


def _quota_section(report: Report, drawn: Mapping[str, bytes]) -> str:
    out = "<h2>Quota</h2>"
    if not report.quota:
        return out + _note("No calls recorded in the quota ledger yet.")
    rows = []
    for q in sorted(report.quota, key=lambda q: (-q.day.toordinal(), q.api, q.client)):
        budget = report.budgets.get(q.api)
        share = f"{q.calls / budget:.1%}" if budget else "—"
        rows.append((q.day, q.api, q.client, _n(q.calls), _n(budget), share, _n(q.rejections)))
    headers = ["Paris day", "api", "client", "calls", "budget", "used", "rejected"]
    out += _img("quota", drawn, "calls per day") + _table(headers, rows, {3, 4, 5, 6})
    out += _note("The ledger keeps the last 8 days.")
    if report.rejections:
        items = "".join(f"<li><code>{_e(line)}</code></li>" for line in report.rejections)
        out += f"<h3>Last rejections</h3><ul>{items}</ul>"
    return out


def _raw_section(report: Report) -> str:
    out = "<h2>Raw zone</h2>"
    if not report.raw:
        return out + _note("No stored answers yet.")
    rows = [
        (r.api, r.dataset, r.outcome, _n(r.answers), _n(r.records), _when(r.last_fetched))
        for r in report.raw
    ]
    headers = ["api", "dataset", "outcome", "answers", "records", "last fetch"]
    return out + _table(headers, rows, {3, 4})


def render_html(report: Report, drawn: Mapping[str, bytes]) -> str:
    body = "".join(
        (
            _header(report),
            _tables_section(report),
            _coverage_section(report, drawn),
            _energy_section(report, drawn),
            _quota_section(report, drawn),
            _raw_section(report),
        )
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>gazoduc report {report.generated_at:%Y-%m-%d %H:%M}</title>"
        f"<style>{_CSS}</style></head><body>{body}</body></html>\n"
    )


# --- files -------------------------------------------------------------------------------


def _write(path: Path, data: bytes) -> None:
    """Beside, then renamed over: a page being e-mailed is never half-written."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def write_report(home: Path, out_dir: Path, budgets: Mapping[str, int] | None = None) -> Path:
    """Write `report.html` and the charts' PNGs into out_dir; return the page's path.

    `budgets`: calls per day by API; by default from `<API>_CALLS_PER_DAY`.
    """
    report = collect(home, budgets)
    drawn = charts(report)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, filename in CHART_FILES.items():
        if name in drawn:
            _write(out_dir / filename, drawn[name])
        else:  # a stale chart of an earlier report would contradict the page
            (out_dir / filename).unlink(missing_ok=True)
    page = out_dir / REPORT_FILE
    _write(page, render_html(report, drawn).encode("utf-8"))
    log.info("report written to %s (%d charts)", page, len(drawn))
    return page


def report_main(argv: list[str] | None = None) -> int:
    """`gazoduc report [--out DIR]`."""
    parser = argparse.ArgumentParser(prog="gazoduc report", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="output directory (default $GAZODUC_HOME/report)")
    args = parser.parse_args(argv)
    home = gazoduc_home()
    page = write_report(home, args.out or home / "report")
    print(page)
    return 0
