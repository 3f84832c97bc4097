import os
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from pipelines.definitions import defs
from pipelines.schedules import informative_refresh_window, published_refresh_months


def _run_request(schedule_name: str, tick: datetime) -> dg.RunRequest:
    """What a schedule asks for at a tick (its only run request)."""
    schedule = next(s for s in defs.schedules if s.name == schedule_name)
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=tick,
            repository_def=defs.get_repository_def(),
        )
        (request,) = schedule.evaluate_tick(context).run_requests
    return request


def test_definitions_load_with_every_adict_asset() -> None:
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {k for k in keys if k.startswith("adict/")} == {
        "adict/access_rights",
        "adict/informative_consumption",
        "adict/published_consumption",
        "adict/published_injection",
        "adict/contractual_data",
        "adict/technical_data",
        "adict/daily_consumption",  # curated
        "adict/monthly_consumption",  # curated
    }


def test_partitioned_assets_backfill_in_one_run_and_share_the_adict_pool() -> None:
    graph = defs.resolve_asset_graph()
    for name in ("informative_consumption", "published_consumption", "published_injection"):
        node = graph.get(dg.AssetKey(["adict", name]))
        assert node.backfill_policy == dg.BackfillPolicy.single_run()
        assert node.pools == {"adict"}


def test_gas_day_partitions_close_at_six_in_paris() -> None:
    asset = defs.get_assets_def(dg.AssetKey(["adict", "informative_consumption"]))
    window = asset.partitions_def.time_window_for_partition_key("2026-03-28")  # a 23-hour gas day
    assert (window.start.isoformat(), window.end.isoformat()) == (
        "2026-03-28T06:00:00+01:00",
        "2026-03-29T06:00:00+02:00",
    )


def test_schedules_follow_grdfs_calendar_in_paris() -> None:
    cron = {s.name: (s.cron_schedule, s.execution_timezone) for s in defs.schedules}
    assert cron == {
        "adict_rights_daily": ("30 6 * * *", "Europe/Paris"),
        "adict_informative_daily": ("30 15 * * *", "Europe/Paris"),
        "adict_published_monthly": ("0 7 10 * *", "Europe/Paris"),
        "adict_documents_monthly": ("0 9 10 * *", "Europe/Paris"),
        "ingrid_daily": ("0 12 * * *", "Europe/Paris"),
        "ingrid_monthly_reread": ("0 13 15 * *", "Europe/Paris"),
        "ingrid_reference_daily": ("0 7 * * *", "Europe/Paris"),
        "sfm_indicators_hourly": ("53 * * * *", "Europe/Paris"),
        "sfm_programs_daily": ("15 6 * * *", "Europe/Paris"),
        "warehouse_maintenance_weekly": ("10 3 * * 0", "Europe/Paris"),
    }


def test_the_daily_informative_run_re_reads_from_the_previous_month() -> None:
    request = _run_request(
        "adict_informative_daily", datetime(2026, 11, 23, 15, 30, tzinfo=ZoneInfo("Europe/Paris"))
    )
    assert request.tags["dagster/asset_partition_range_start"] == "2026-10-01"
    assert request.tags["dagster/asset_partition_range_end"] == "2026-11-22"


def test_the_monthly_published_run_re_reads_three_months() -> None:
    assert published_refresh_months(date(2026, 1, 10)) == ("2025-10-01", "2025-12-01")
    assert informative_refresh_window(date(2026, 3, 1)) == (date(2026, 2, 1), date(2026, 2, 28))


def test_every_ingrid_resource_of_seed_000_is_an_asset() -> None:
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    resources = {
        "upstream-allocated-capacities",
        "standardized-capacity-subscriptions",
        "downstream-allocated-capacities",
        "services",
        "confirmation-notice",
        "operational-notices",
        "consolidated-maintenance-programs",
        "supply-links",
        "pce-connection-links",
        "daily-measures",
        "hourly-measures",
        "daily-allocations",
        "hourly-allocations",
        "daily-imbalances",
        "daily-exceeding",
        "hourly-exceeding",
        "common-indicators",
        "daily-contractual-forecasts",
        "intraday-distributed-quantities",
    }  # seed 000 section 9; hourly-allocations is in two families
    expected = {"ingrid/" + r.replace("-", "_") for r in resources}
    expected.add("ingrid/balancing_hourly_allocations")
    expected.add("ingrid/daily_balance")  # curated, from the daily resources
    assert {k for k in keys if k.startswith("ingrid/")} == expected


def test_the_daily_ingrid_run_re_reads_the_recent_closed_gas_days() -> None:
    request = _run_request(
        "ingrid_daily", datetime(2026, 11, 23, 12, 0, tzinfo=ZoneInfo("Europe/Paris"))
    )
    assert request.tags["dagster/asset_partition_range_start"] == "2026-11-16"
    assert request.tags["dagster/asset_partition_range_end"] == "2026-11-22"


def test_the_monthly_ingrid_reread_covers_the_whole_previous_month() -> None:
    request = _run_request(
        "ingrid_monthly_reread", datetime(2026, 3, 15, 13, 0, tzinfo=ZoneInfo("Europe/Paris"))
    )
    assert request.tags["dagster/asset_partition_range_start"] == "2026-02-01"
    assert request.tags["dagster/asset_partition_range_end"] == "2026-02-28"


def test_indicators_are_captured_at_h_minus_7_into_the_gas_day_of_the_tick() -> None:
    request = _run_request(
        "sfm_indicators_hourly", datetime(2026, 11, 24, 5, 53, tzinfo=ZoneInfo("Europe/Paris"))
    )  # still gas day 23
    assert request.partition_key == "2026-11-23"


def test_the_programs_run_reads_yesterday_today_and_tomorrow() -> None:
    request = _run_request(
        "sfm_programs_daily", datetime(2026, 11, 23, 6, 15, tzinfo=ZoneInfo("Europe/Paris"))
    )
    assert request.tags["dagster/asset_partition_range_start"] == "2026-11-22"
    assert request.tags["dagster/asset_partition_range_end"] == "2026-11-24"


def test_a_schedule_skips_its_tick_while_the_previous_run_of_its_job_is_going() -> None:
    from dagster._core.storage.dagster_run import DagsterRun

    schedule = next(s for s in defs.schedules if s.name == "ingrid_daily")
    tick = datetime(2026, 11, 23, 12, 0, tzinfo=ZoneInfo("Europe/Paris"))
    with dg.instance_for_test() as instance:
        running = DagsterRun(job_name="ingrid_days", status=dg.DagsterRunStatus.STARTED)
        instance.add_run(running)
        context = dg.build_schedule_context(instance=instance, scheduled_execution_time=tick)
        result = schedule.evaluate_tick(context)
    assert not result.run_requests
    assert "still going" in (result.skip_message or "")


REACHABLE_ADICT = {
    "ADICT_BASE_URL": "http://127.0.0.1:9/adict/v2",
    "ADICT_TOKEN_URL": "http://127.0.0.1:9/oauth2/token",
    "ADICT_CLIENT_ID": "client",
    "ADICT_CLIENT_SECRET": "s3cr3t-never-logged-7f1c",
}


def test_a_bad_value_does_not_stop_the_definitions_from_loading(tmp_path: Path) -> None:
    dagster_home = tmp_path / "dagster"
    dagster_home.mkdir()
    env = os.environ | {"ADICT_CALLS_PER_DAY": "6k", "DAGSTER_HOME": str(dagster_home)}
    dagster = Path(sys.executable).parent / "dagster"
    done = subprocess.run(
        [str(dagster), "definitions", "validate", "-m", "pipelines.definitions"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "All code locations passed validation" in done.stdout + done.stderr


@pytest.mark.parametrize(
    "variable, value, expected",
    [
        ("ADICT_CALLS_PER_DAY", "6k", "a whole number of calls per Europe/Paris day above 0"),
        ("ADICT_CALLS_PER_SECOND", "-1", "a number of calls per second above 0"),
        ("ADICT_BASE_URL", "api.grdf.fr/adict", "an http:// or https:// URL"),
    ],
)
def test_the_first_adict_run_with_a_bad_value_fails_naming_the_variable(
    variable: str, value: str, expected: str, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, good in (REACHABLE_ADICT | {variable: value}).items():
        monkeypatch.setenv(name, good)
    asset = defs.get_assets_def(dg.AssetKey(["adict", "access_rights"]))
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [asset], resources=defs.resources, instance=instance, raise_on_error=False
        )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "RESOURCE_INIT_FAILURE"]
    message = failure.event_specific_data.error.message
    assert f"SettingError: {variable}={value!r}: expected {expected}" in message
    assert not (home / "state").exists()  # no call was made
