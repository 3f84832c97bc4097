"""The one entry point Dagster loads: assets, resources, jobs, bound to the environment.

Loading reads no variable, so a bad value never stops the definitions from loading: the
run that needs it fails, naming the variable (`resources/settings.py`). Variables with no
default are bound through `dagster.EnvVar`: Dagster reads them when a run starts, shows
which variable each field comes from and never stores a value. EnvVar cannot carry a
default, so the variables that have one are read when the run starts too: the upstream
fields left None (rates, daily budgets, ADICT's scope, the state folder) by the resource
itself, and the warehouse, whose settings all have defaults, is built then.
"""

from __future__ import annotations

import dagster as dg

from assets.adict import ADICT_ASSETS, ADICT_CHECKS, CONSENT_CHECKS
from assets.curated import CURATED_ASSETS, CURATED_AUTOMATION_SENSOR, CURATED_CHECKS
from assets.ingrid import INGRID_ASSETS, INGRID_CHECKS
from assets.sfm import SFM_ASSETS, SFM_CHECKS
from pipelines.runs import free_slots_of_dead_runs
from pipelines.schedules import JOBS, SCHEDULES
from pipelines.workers import steps_executor
from resources.adict import AdictResource
from resources.ingrid import IngridResource
from resources.settings import gazoduc_home, keep_personal_data
from resources.sfm import SfmResource
from resources.warehouse import WarehouseResource


def adict_resource() -> AdictResource:
    return AdictResource(
        base_url=dg.EnvVar("ADICT_BASE_URL"),
        token_url=dg.EnvVar("ADICT_TOKEN_URL"),
        client_id=dg.EnvVar("ADICT_CLIENT_ID"),
        client_secret=dg.EnvVar("ADICT_CLIENT_SECRET"),
    )


def ingrid_resource() -> IngridResource:
    return IngridResource(
        base_url=dg.EnvVar("INGRID_BASE_URL"),
        token_url=dg.EnvVar("INGRID_TOKEN_URL"),
        client_id=dg.EnvVar("INGRID_CLIENT_ID"),
        client_secret=dg.EnvVar("INGRID_CLIENT_SECRET"),
        contract_code=dg.EnvVar("INGRID_CONTRACT_CODE"),
    )


def sfm_resource() -> SfmResource:
    return SfmResource(
        base_url=dg.EnvVar("SFM_BASE_URL"),
        token_url=dg.EnvVar("SFM_TOKEN_URL"),
        client_id=dg.EnvVar("SFM_CLIENT_ID"),
        scope=dg.EnvVar("SFM_SCOPE"),
        cert_file=dg.EnvVar("SFM_CERT_FILE"),
        key_file=dg.EnvVar("SFM_KEY_FILE"),
    )


def warehouse_resource() -> WarehouseResource:
    """The warehouse as GAZODUC_HOME and GAZODUC_KEEP_PERSONAL_DATA say, read now."""
    return WarehouseResource(home=str(gazoduc_home()), keep_personal_data=keep_personal_data())


defs = dg.Definitions(
    assets=[*ADICT_ASSETS, *INGRID_ASSETS, *SFM_ASSETS, *CURATED_ASSETS],
    # Steps run in the run's own process unless GAZODUC_EXECUTOR=celery, read when the run
    # starts (pipelines/workers.py): embedded, a killed run leaves no step worker behind to
    # finish and land on its own (the pools allow one step per source anyway).
    executor=steps_executor,
    sensors=[free_slots_of_dead_runs, CURATED_AUTOMATION_SENSOR],
    asset_checks=[*ADICT_CHECKS, *CONSENT_CHECKS, *INGRID_CHECKS, *SFM_CHECKS, *CURATED_CHECKS],
    jobs=JOBS,
    schedules=SCHEDULES,
    resources={
        "adict": adict_resource(),
        "ingrid": ingrid_resource(),
        "sfm": sfm_resource(),
        "warehouse": dg.ResourceDefinition(
            resource_fn=lambda _: warehouse_resource(),
            description=WarehouseResource.__doc__,
        ),
    },
)
