import dagster as dg

from pipelines.definitions import defs


def test_definitions_load_with_every_adict_asset() -> None:
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert keys == {
        "adict/access_rights",
        "adict/informative_consumption",
        "adict/published_consumption",
        "adict/published_injection",
        "adict/contractual_data",
        "adict/technical_data",
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
