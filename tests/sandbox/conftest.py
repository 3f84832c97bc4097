"""Fixtures for the ADICT sandbox tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.sandbox.adict_sandbox_support import Served, serve


@pytest.fixture(scope="module")
def adict() -> Iterator[Served]:
    """A fast sandbox shared by a module's tests: no per-second limit in the way."""
    yield from serve()


@pytest.fixture
def fresh() -> Iterator[Served]:
    """A sandbox of its own, for tests that change faults, clock or counters."""
    yield from serve()
