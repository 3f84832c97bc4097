"""The one entry point Dagster loads: assets, resources, jobs, bound to the environment."""

from __future__ import annotations

import dagster as dg

from assets.adict import ADICT_ASSETS, ADICT_CHECKS, CONSENT_CHECKS
from assets.ingrid import INGRID_ASSETS, INGRID_CHECKS
from assets.sfm import SFM_ASSETS, SFM_CHECKS
from pipelines.runs import free_slots_of_dead_runs
from pipelines.schedules import JOBS, SCHEDULES
from pipelines.settings import gazoduc_home, keep_personal_data, pacing, setting
from resources.adict import AdictResource
from resources.ingrid import IngridResource
from resources.sfm import SfmResource
from warehouse.resource import WarehouseResource


def adict_resource() -> AdictResource:
    return AdictResource(
        base_url=dg.EnvVar("ADICT_BASE_URL"),
        token_url=dg.EnvVar("ADICT_TOKEN_URL"),
        client_id=dg.EnvVar("ADICT_CLIENT_ID"),
        client_secret=dg.EnvVar("ADICT_CLIENT_SECRET"),
        scope=setting("ADICT_SCOPE"),
        **pacing("adict"),
    )


def ingrid_resource() -> IngridResource:
    return IngridResource(
        base_url=dg.EnvVar("INGRID_BASE_URL"),
        token_url=dg.EnvVar("INGRID_TOKEN_URL"),
        client_id=dg.EnvVar("INGRID_CLIENT_ID"),
        client_secret=dg.EnvVar("INGRID_CLIENT_SECRET"),
        contract_code=dg.EnvVar("INGRID_CONTRACT_CODE"),
        **pacing("ingrid"),
    )


def sfm_resource() -> SfmResource:
    return SfmResource(
        base_url=dg.EnvVar("SFM_BASE_URL"),
        token_url=dg.EnvVar("SFM_TOKEN_URL"),
        client_id=dg.EnvVar("SFM_CLIENT_ID"),
        scope=dg.EnvVar("SFM_SCOPE"),
        cert_file=dg.EnvVar("SFM_CERT_FILE"),
        key_file=dg.EnvVar("SFM_KEY_FILE"),
        **pacing("sfm"),
    )


def warehouse_resource() -> WarehouseResource:
    return WarehouseResource(home=str(gazoduc_home()), keep_personal_data=keep_personal_data())


defs = dg.Definitions(
    assets=[*ADICT_ASSETS, *INGRID_ASSETS, *SFM_ASSETS],
    # Steps run in the run's own process: a killed run leaves no step worker behind to
    # finish and land on its own (the pools allow one step per source anyway).
    executor=dg.in_process_executor,
    sensors=[free_slots_of_dead_runs],
    asset_checks=[*ADICT_CHECKS, *CONSENT_CHECKS, *INGRID_CHECKS, *SFM_CHECKS],
    jobs=JOBS,
    schedules=SCHEDULES,
    resources={
        "adict": adict_resource(),
        "ingrid": ingrid_resource(),
        "sfm": sfm_resource(),
        "warehouse": warehouse_resource(),
    },
)
