"""The raw zone keeps upstream's answers, personal data included: private to its owner,
and an answer damaged on disk costs one call, never a run."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pytest

from assets.adict import access_rights, informative_consumption
from pipelines.operations import reparse
from pipelines.partitions import paris_today
from tests.conftest import Upstream
from tests.integration.test_resumable_runs import asked, landed, truth


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The usual default: files 0644, folders 0755, unless the code says otherwise."""
    before = os.umask(0o022)
    yield
    os.umask(before)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def backfilled(upstream: Upstream) -> tuple[date, date]:
    """The rights, then 40 gas days of informative consumption: the range landed."""
    dg.materialize([access_rights], resources=upstream.resources())
    today = paris_today()
    first, last = today - timedelta(days=40), today - timedelta(days=2)
    assert upstream.materialize_range(informative_consumption, first, last).success
    return first, last


def test_answers_folders_and_manifest_are_private_whatever_the_umask(
    adict_upstream: Callable[..., Upstream], umask_022: None
) -> None:
    upstream = adict_upstream(portfolio_size=16)
    dg.materialize([access_rights], resources=upstream.resources())
    raw = upstream.home / "raw"
    files = [p for p in raw.rglob("*") if p.is_file()]
    folders = [raw, *(p for p in raw.rglob("*") if p.is_dir())]
    assert files and {mode(p) for p in files} == {0o600}
    assert {mode(p) for p in folders} == {0o700}
    state = upstream.home / "state"
    assert mode(state) == 0o700 and mode(state / "raw.sqlite") == 0o600


def test_a_damaged_answer_is_set_aside_then_asked_again_with_one_call(
    adict_upstream: Callable[..., Upstream],
) -> None:
    upstream = adict_upstream(portfolio_size=16)
    first, last = backfilled(upstream)
    calls = sum(asked(upstream).values())

    answer = upstream.warehouse().raw_zone().answers("adict", "informative_consumption")[0]
    path = upstream.home / "raw" / answer.path
    damaged = bytearray(path.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF  # one flipped byte, as a failing disk leaves it
    path.write_bytes(bytes(damaged))

    # The next run meets it while building: named, set aside, the rows landed before kept.
    result = upstream.materialize_range(informative_consumption, first, last)
    metadata = result.asset_materializations_for_node("adict__informative_consumption")[0]
    assert metadata.metadata["answers_set_aside"].value == 1
    assert not path.exists()
    assert (upstream.home / "raw" / "_damaged" / answer.path).exists()
    assert landed(upstream) == truth(upstream, first, last)
    assert sum(asked(upstream).values()) == calls

    # The one after asks for that answer again: one call, for that PCE's window.
    assert upstream.materialize_range(informative_consumption, first, last).success
    assert sum(asked(upstream).values()) == calls + 1
    assert landed(upstream) == truth(upstream, first, last)


def test_reparse_goes_on_past_a_damaged_answer_and_names_it(
    adict_upstream: Callable[..., Upstream],
) -> None:
    upstream = adict_upstream(portfolio_size=16)
    backfilled(upstream)
    answers = upstream.warehouse().raw_zone().answers("adict", "informative_consumption")
    (upstream.home / "raw" / answers[0].path).write_bytes(b"not zstd at all")

    done = reparse(upstream.warehouse(), "informative_consumption")
    assert [a.path for a in done.set_aside] == [answers[0].path]
    assert done.result.answers == len(answers) - 1  # the others were all rebuilt
    assert done.result.rows > 0
