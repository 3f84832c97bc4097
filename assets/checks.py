"""Asset checks built from a table spec: they read, in the warehouse, what a run landed.

`table_checks(asset, spec, ...)` returns one `multi_asset_check` (one step, one DuckDB
connection) holding the generic rules below plus any source-specific ones. A check looks
at the partitions its run materialized: the run's partition range when it ran with the
asset, else the window of the asset's latest materialization (a check launched alone from
the UI); a snapshot table's newest partition.

The blocking rules run twice. First inside the landing's transaction, on its own state
(`blocking_rules`): a failure rolls the landing back, so BI never sees rows that fail
them, and fails the run. Then as asset checks on what was committed, with the others.
"""

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

import dagster as dg
import duckdb
import pyarrow as pa

from pipelines.partitions import GAS_DAY_START_HOUR, PARIS
from resources.warehouse import WarehouseResource
from warehouse.build import months_between
from warehouse.lake import BlockingRuleFailed, sql_string
from warehouse.lake_table import LakeTable, Rules, session
from warehouse.landing import table_name
from warehouse.store import TableSpec

T = TypeVar("T")

WINDOW_METADATA = "window"  # "first..last": the gas days a windowed asset's run landed
SAMPLE_ROWS = 10  # offending rows shown in a failed check's metadata
ERROR, WARN = dg.AssetCheckSeverity.ERROR, dg.AssetCheckSeverity.WARN


@dataclass(frozen=True)
class Scope:
    """What a check reads: partition keys, and the gas days kept (None: every row)."""

    partitions: tuple[str, ...]
    first_day: date | None = None
    last_day: date | None = None

    @property
    def days(self) -> tuple[date, date] | None:
        if self.first_day is None or self.last_day is None:
            return None
        return self.first_day, self.last_day

    def label(self) -> str:
        days = self.days
        return f"{days[0]}..{days[1]}" if days else ", ".join(self.partitions)


@dataclass
class Landed:
    """What a rule gets: a DuckDB connection with the view `landed` (the rows in scope)."""

    con: duckdb.DuckDBPyConnection
    spec: TableSpec
    scope: Scope
    warehouse: WarehouseResource

    def rows(self, sql: str) -> list[tuple]:
        return self.con.execute(sql).fetchall()

    def sample(self, sql: str) -> dg.MetadataValue:
        """The first rows of a query, as a markdown table for the check's metadata."""
        cursor = self.con.execute(f"{sql} LIMIT {SAMPLE_ROWS}")
        names = [d[0] for d in cursor.description]
        return markdown_table(names, cursor.fetchall())


@dataclass(frozen=True)
class Outcome:
    passed: bool
    description: str
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckRule:
    """One check: its rule, and what a failure does (blocking: downstream does not run)."""

    name: str
    description: str
    evaluate: Callable[[Landed], Outcome]
    blocking: bool = False
    severity: dg.AssetCheckSeverity = ERROR
    # A blocking rule on the data itself rolls a failing landing back; a rule on coverage
    # (rows missing for now) does not: what did land is still right.
    gates_landing: bool = True


@dataclass(frozen=True)
class EnergyBounds:
    """Energies must be >= 0 (blocking) and at most `per_day_max` per gas day (warning).

    `ceilings` gives a tighter bound per scope value (a meter's, by its reading frequency)
    when the check runs; `days_sql` how many gas days a row covers (a published block)."""

    column: str
    per_day_max: float
    days_sql: str = "1"
    ceilings: Callable[[WarehouseResource], Mapping[str, float]] | None = None


@dataclass(frozen=True)
class HourlySeries:
    """An hourly table: each gas day present holds exactly its 23, 24 or 25 hours."""

    timestamp_column: str
    gas_day_column: str = "gas_day"
    # What one series is (a point's, a zone's); empty: the table's scope column.
    series_columns: tuple[str, ...] = ()


def table_checks(
    asset: dg.AssetsDefinition,
    spec: TableSpec,
    *,
    energy: EnergyBounds | None = None,
    hourly: HourlySeries | None = None,
    extra: Sequence[CheckRule] = (),
) -> dg.AssetChecksDefinition:
    """The checks of one table's asset: generic rules from the spec, then `extra` ones."""
    return build_checks(asset, spec, [*table_rules(spec, energy, hourly), *extra])


def table_rules(
    spec: TableSpec, energy: EnergyBounds | None = None, hourly: HourlySeries | None = None
) -> list[CheckRule]:
    rules = [
        CheckRule(
            "no_duplicate_keys",
            f"One row per ({', '.join(spec.key)}) in each partition.",
            lambda landed: _no_duplicate_keys(landed),
            blocking=True,
        )
    ]
    if energy is not None:
        rules += [
            CheckRule(
                "energy_not_negative",
                f"No negative `{energy.column}`.",
                lambda landed: _not_negative(landed, energy),
                blocking=True,
            ),
            CheckRule(
                "energy_plausible",
                f"`{energy.column}` within the meter's plausible bound per gas day.",
                lambda landed: _plausible(landed, energy),
                severity=WARN,
            ),
        ]
    if hourly is not None:
        rules.append(
            CheckRule(
                "hourly_series_complete",
                "Each gas day holds all its hours: 23 in spring, 25 in autumn, else 24.",
                lambda landed: _hourly_complete(landed, hourly),
                blocking=True,
            )
        )
    return rules


# Each table's rules, by "schema.table": its landings run the blocking ones (see module doc).
_RULES: dict[str, list[CheckRule]] = {}


def build_checks(
    asset: dg.AssetsDefinition, spec: TableSpec, rules: Sequence[CheckRule]
) -> dg.AssetChecksDefinition:
    by_name = {rule.name: rule for rule in rules}
    _RULES[f"{spec.schema}.{spec.name}"] = list(rules)
    specs = [
        dg.AssetCheckSpec(r.name, asset=asset, description=r.description, blocking=r.blocking)
        for r in rules
    ]

    @dg.multi_asset_check(
        name=f"{asset.key.to_python_identifier()}_checks", specs=specs, can_subset=True
    )
    def _checks(
        context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
    ) -> Iterator[dg.AssetCheckResult]:
        table = warehouse.table(spec)
        scope = scope_of(context, asset, table)
        selected = [by_name[k.name] for k in sorted(context.selected_asset_check_keys)]
        if scope is None:  # nothing landed yet: nothing to hold against the data
            for rule in selected:
                yield dg.AssetCheckResult(
                    check_name=rule.name, passed=True, description="nothing materialized yet"
                )
            return
        with landed_rows(table, scope) as con:
            landed = Landed(con, spec, scope, warehouse)
            for rule in selected:
                yield _result(rule, rule.evaluate(landed), scope)

    return _checks


def blocking_rules(warehouse: WarehouseResource, spec: TableSpec, scope: Scope) -> Rules:
    """The table's blocking rules as its landing runs them, on the transaction's own state
    (`LakeTable(rules=...)`): failures raise BlockingRuleFailed, which rolls it back."""
    registered = _RULES.get(f"{spec.schema}.{spec.name}", [])
    blocking = [r for r in registered if r.blocking and r.gates_landing]

    def evaluate(con: duckdb.DuckDBPyConnection) -> None:
        create_landed_view(con, spec, scope)
        landed = Landed(con, spec, scope, warehouse)
        failures = [
            f"{rule.name}: {outcome.description}"
            for rule in blocking
            if not (outcome := rule.evaluate(landed)).passed
        ]
        if failures:
            raise BlockingRuleFailed(
                f"{spec.schema}.{spec.name} {scope.label()}: " + "; ".join(failures)
            )

    return evaluate


def landed_or_failure(build: Callable[[], T]) -> T:
    """What `build` returns; a landing it rolled back on a blocking rule fails the run,
    saying so and what a re-run does."""
    try:
        return build()
    except BlockingRuleFailed as failed:
        raise dg.Failure(
            f"{failed}. Nothing of this landing was committed: the table keeps its rows as "
            "they were. Every answer stays in the raw zone: after a fix, a re-run or "
            "`gazoduc reparse` lands them with 0 calls.",
            allow_retries=False,
        ) from failed


def _result(rule: CheckRule, outcome: Outcome, scope: Scope) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=rule.name,
        passed=outcome.passed,
        severity=rule.severity,
        description=outcome.description,
        metadata={"scope": scope.label(), **outcome.metadata},
    )


# --- which rows a check reads ----------------------------------------------------------


def scope_of(
    context: dg.AssetCheckExecutionContext, asset: dg.AssetsDefinition, table: LakeTable
) -> Scope | None:
    partitions_def = asset.partitions_def
    if table.spec.day_sql is None or not isinstance(
        partitions_def, dg.TimeWindowPartitionsDefinition
    ):
        newest = table.partitions()[-1:]
        return Scope(tuple(newest)) if newest else None
    days = _run_days(context, partitions_def) or _last_materialized_days(context, asset.key)
    if days is None:
        return None
    return Scope(tuple(months_between(*days)), *days)


def _run_days(
    context: dg.AssetCheckExecutionContext, partitions_def: dg.TimeWindowPartitionsDefinition
) -> tuple[date, date] | None:
    """The gas days of the run's partition range (a check run with its asset)."""
    try:
        keys = context.op_execution_context.partition_key_range
    except dg.DagsterInvariantViolationError:  # a run without partitions
        return None
    first = partitions_def.time_window_for_partition_key(keys.start).start
    end = partitions_def.time_window_for_partition_key(keys.end).end
    return first.date(), (end - timedelta(days=1)).date()


def _last_materialized_days(
    context: dg.AssetCheckExecutionContext, key: dg.AssetKey
) -> tuple[date, date] | None:
    """The window the asset's latest run landed: its materializations all carry it."""
    event = context.instance.get_latest_materialization_event(key)
    materialization = event.asset_materialization if event else None
    window = materialization.metadata.get(WINDOW_METADATA) if materialization else None
    if window is None:
        return None
    first, last = str(window.value).split("..")
    return date.fromisoformat(first), date.fromisoformat(last)


@contextmanager
def landed_rows(table: LakeTable, scope: Scope) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the warehouse whose view `landed` holds the committed rows of the
    scope."""
    con = session(table.lake)
    try:
        create_landed_view(con, table.spec, scope)
        yield con
    finally:
        con.close()


def create_landed_view(con: duckdb.DuckDBPyConnection, spec: TableSpec, scope: Scope) -> None:
    """The temporary view `landed`: the table's rows in the scope's partitions and days, as
    `con` sees them (inside a landing's transaction: what it is about to commit)."""
    key = spec.partition_key
    where = (
        f'CAST(old."{key}" AS VARCHAR) IN ({", ".join(sql_string(p) for p in scope.partitions)})'
    )
    if not scope.partitions:
        where = "false"
    days = scope.days
    if days is not None and spec.day_sql is not None:
        where += f" AND ({spec.day_sql}) BETWEEN DATE '{days[0]}' AND DATE '{days[1]}'"
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW landed AS "
        f"SELECT old.* FROM {table_name(spec)} AS old WHERE {where}"
    )


# --- the generic rules -----------------------------------------------------------------


def _no_duplicate_keys(landed: Landed) -> Outcome:
    spec = landed.spec
    keys = ", ".join([spec.partition_key, *spec.key])
    duplicated = f"SELECT {keys}, count(*) AS n FROM landed GROUP BY ALL HAVING count(*) > 1"
    ((count,),) = landed.rows(f"SELECT count(*) FROM ({duplicated})")
    if not count:
        return Outcome(True, "one row per key")
    return Outcome(
        False,
        f"{count} keys landed more than once",
        {"duplicated_keys": count, "sample": landed.sample(f"{duplicated} ORDER BY ALL")},
    )


def _not_negative(landed: Landed, energy: EnergyBounds) -> Outcome:
    keys = ", ".join(landed.spec.key)
    bad = f"SELECT {keys}, {energy.column} FROM landed WHERE {energy.column} < 0"
    ((count,),) = landed.rows(f"SELECT count(*) FROM ({bad})")
    if not count:
        return Outcome(True, f"no negative {energy.column}")
    return Outcome(
        False,
        f"{count} rows with a negative {energy.column}",
        {"negative_rows": count, "sample": landed.sample(f"{bad} ORDER BY {energy.column}")},
    )


def _plausible(landed: Landed, energy: EnergyBounds) -> Outcome:
    spec, column = landed.spec, energy.column
    ceilings = energy.ceilings(landed.warehouse) if energy.ceilings else {}
    landed.con.register(
        "ceilings",
        pa.table(
            {
                "scope": pa.array(list(ceilings), pa.string()),
                "per_day_max": pa.array(list(ceilings.values()), pa.float64()),
            }
        ),
    )
    join = (
        f"LEFT JOIN ceilings AS c ON c.scope = old.{spec.scope_column}"
        if spec.scope_column
        else "LEFT JOIN ceilings AS c ON false"
    )
    bound = f"coalesce(c.per_day_max, {energy.per_day_max}) * greatest(1, {energy.days_sql})"
    bad = (
        f"SELECT {', '.join(f'old.{k}' for k in spec.key)}, old.{column}, {bound} AS bound "
        f"FROM landed AS old {join} WHERE old.{column} > {bound}"
    )
    ((count,),) = landed.rows(f"SELECT count(*) FROM ({bad})")
    if not count:
        return Outcome(True, f"every {column} within its bound")
    return Outcome(
        False,
        f"{count} rows above a plausible {column} for their meter",
        {"implausible_rows": count, "sample": landed.sample(f"{bad} ORDER BY {column} DESC")},
    )


def _hourly_complete(landed: Landed, hourly: HourlySeries) -> Outcome:
    spec, day, stamp = landed.spec, hourly.gas_day_column, hourly.timestamp_column
    if hourly.series_columns:
        scope = "(" + ", ".join(f"old.{c}" for c in hourly.series_columns) + ")::VARCHAR"
    else:
        scope = f"old.{spec.scope_column}" if spec.scope_column else "NULL"
    days = [d for (d,) in landed.rows(f"SELECT DISTINCT {day} FROM landed WHERE {day} IS NOT NULL")]
    landed.con.register("gas_days", _gas_day_bounds(days))
    # A day is complete when it holds one row per distinct hour of its own span, no more.
    per_day = (
        f"SELECT {scope} AS scope, old.{day} AS gas_day, g.hours AS expected, "
        f"count(*) AS rows, count(DISTINCT old.{stamp}) "
        f"FILTER (WHERE old.{stamp} >= g.starts AND old.{stamp} < g.ends "
        f"AND date_trunc('hour', old.{stamp}) = old.{stamp}) AS hours "
        f"FROM landed AS old JOIN gas_days AS g ON g.gas_day = old.{day} GROUP BY ALL"
    )
    bad = f"SELECT * FROM ({per_day}) WHERE rows <> expected OR hours <> expected"
    ((count,),) = landed.rows(f"SELECT count(*) FROM ({bad})")
    if not count:
        return Outcome(True, f"{len(days)} gas days complete")
    return Outcome(
        False,
        f"{count} (scope, gas day) series incomplete or with extra hours",
        {"incomplete_days": count, "sample": landed.sample(f"{bad} ORDER BY ALL")},
    )


def gas_day_start(day: date) -> datetime:
    """06:00 Europe/Paris on `day`, in UTC (aware datetimes sharing a tzinfo subtract as
    wall-clock times: UTC makes a DST day's length come out right)."""
    local = datetime(day.year, day.month, day.day, GAS_DAY_START_HOUR, tzinfo=PARIS)
    return local.astimezone(UTC)


def _gas_day_bounds(days: Sequence[date]) -> pa.Table:
    """Each gas day's start, end and length: 06:00 to 06:00 Europe/Paris, so 23 hours on
    the spring DST Sunday and 25 on the autumn one."""
    starts = [gas_day_start(d) for d in days]
    ends = [gas_day_start(d + timedelta(days=1)) for d in days]
    stamp = pa.timestamp("us", tz="UTC")
    return pa.table(
        {
            "gas_day": pa.array(days, pa.date32()),
            "starts": pa.array(starts, stamp),
            "ends": pa.array(ends, stamp),
            "hours": pa.array(
                [round((e - s).total_seconds() / 3600) for s, e in zip(starts, ends, strict=True)],
                pa.int64(),
            ),
        }
    )


def markdown_table(names: Sequence[str], rows: Sequence[Sequence[Any]]) -> dg.MetadataValue:
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    lines += ["| " + " | ".join("" if v is None else str(v) for v in row) + " |" for row in rows]
    return dg.MetadataValue.md("\n".join(lines))
