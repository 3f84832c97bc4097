"""The warehouse's own modules stand alone: no Dagster, no pipelines, no API clients."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import pytest

import warehouse

# Every module of the warehouse: it knows tables, not APIs nor orchestration.
STANDALONE = sorted(f"warehouse.{m.name}" for m in pkgutil.iter_modules(warehouse.__path__))


@pytest.mark.parametrize("module", STANDALONE)
def test_a_warehouse_module_imports_neither_pipelines_nor_resources_nor_dagster(
    module: str,
) -> None:
    probe = (
        f"import sys, {module}; "
        "print(sorted({n.split('.')[0] for n in sys.modules} "
        "& {'pipelines', 'resources', 'dagster'}))"
    )
    # A fresh interpreter: this one has long imported all of them.
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]"


def test_pipelines_partitions_serves_the_same_gas_day_helpers() -> None:
    from pipelines import partitions
    from warehouse import gasday

    for name in ("PARIS", "GAS_DAY_START_HOUR", "gas_day_of", "paris_today", "month_key"):
        assert getattr(partitions, name) is getattr(gasday, name)
