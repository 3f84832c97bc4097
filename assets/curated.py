"""Dagster assets of the curated tables (warehouse/curated.py): one per table, updated
after any of its sources lands, and a check of its rules on the committed table.

An asset's key is its table's name (`["adict", "daily_consumption"]`) and its deps are
its sources', which are the landing assets' keys (`key_prefix` + spec name) or another
curated table's. The assets are unpartitioned: an update recomputes whatever keys its
sources changed since it last ran, so one run after several landings catches up on all.
"""

from collections.abc import Iterator

import dagster as dg

from resources.warehouse import WarehouseResource
from warehouse.curated import (
    CuratedTable,
    UpdateResult,
    curated_tables,
    rule_violations,
    update_table,
)
from warehouse.lake import WarehouseNotFound, table_exists

GROUP = "curated"


def automation_condition() -> dg.AutomationCondition:
    """Update after any source lands. `eager()` without its "no dep missing" part: the
    sources are partitioned by gas day, and an unpartitioned asset counts every partition
    never materialized (every day before the backfill's start) as a missing dep, which
    would hold it forever. A table whose sources have not all landed waits on its own."""
    return dg.AutomationCondition.eager().without(~dg.AutomationCondition.any_deps_missing())


def table_key(name: str) -> dg.AssetKey:
    """A table's asset key: `adict.daily_consumption` -> ["adict", "daily_consumption"]."""
    return dg.AssetKey(name.split("."))


def _description(table: CuratedTable) -> str:
    first = table.sql.strip().splitlines()[0].removeprefix("--").strip()
    return f"{first} A DuckLake table, updated from its sources' changes."


def _metadata(result: UpdateResult) -> dict[str, dg.MetadataValue]:
    return {
        "action": dg.MetadataValue.text(result.action),
        "keys_recomputed": dg.MetadataValue.int(result.keys_recomputed),
        "rows_deleted": dg.MetadataValue.int(result.rows_deleted),
        "rows_inserted": dg.MetadataValue.int(result.rows_inserted),
        "rows_changed": dg.MetadataValue.int(result.rows_changed),
        "snapshot_read": dg.MetadataValue.int(result.snapshot_read or 0),
        "previous_snapshot": dg.MetadataValue.int(result.previous_snapshot or 0),
    }


def _curated_asset(table: CuratedTable) -> dg.AssetsDefinition:
    @dg.asset(
        key=table_key(table.name),
        deps=[table_key(source) for source in table.sources],
        group_name=GROUP,
        kinds={"duckdb"},
        automation_condition=automation_condition(),
        description=_description(table),
        output_required=False,  # no materialization while a source has not landed yet
    )
    def _asset(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> Iterator[dg.MaterializeResult]:
        lake = warehouse.lake()
        con = lake.open()
        try:
            result = update_table(lake, con, table)
        finally:
            con.close()
        if result.action == "waiting":
            context.log.info(f"{table.name} waits: not all of {', '.join(table.sources)} landed")
            return
        yield dg.MaterializeResult(metadata=_metadata(result))

    return _asset


def _rules_check(table: CuratedTable) -> dg.AssetChecksDefinition:
    unique = ", ".join(table.unique)
    rules = f"one row per ({unique})" + (f"; each row: {table.each_row}" if table.each_row else "")

    @dg.asset_check(
        asset=table_key(table.name),
        name="rules",
        description=f"The committed table keeps its rules: {rules}.",
    )
    def _check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        try:
            con = warehouse.lake().open(read_only=True)
        except WarehouseNotFound:
            return dg.AssetCheckResult(passed=True, description="no warehouse yet")
        try:
            if not table_exists(con, table.name):
                return dg.AssetCheckResult(passed=True, description="not built yet")
            violations = rule_violations(con, table, table.qualified)
        finally:
            con.close()
        return dg.AssetCheckResult(
            passed=not violations,
            severity=dg.AssetCheckSeverity.ERROR,
            description="; ".join(violations) or rules,
        )

    return _check


CURATED_ASSETS: list[dg.AssetsDefinition] = [_curated_asset(t) for t in curated_tables()]
CURATED_CHECKS: list[dg.AssetChecksDefinition] = [_rules_check(t) for t in curated_tables()]
# Dagster's implicit `default_automation_condition_sensor` starts stopped on a new
# instance: this one is declared running, so the daemon (`dagster dev` runs one) evaluates
# the curated assets' conditions from the start.
CURATED_AUTOMATION_SENSOR = dg.AutomationConditionSensorDefinition(
    "curated_tables_after_landings",
    target=dg.AssetSelection.assets(*CURATED_ASSETS),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=60,
    description="Updates each curated table after any of its sources lands.",
)
