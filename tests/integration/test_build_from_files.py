"""The landing of whole answers read by DuckDB from their stored files equals the landing
of the same answers parsed by the client, row for row and column for column."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import orjson
import pytest

from resources.adict import read_window
from sandbox.adict_data import (
    SUCCESS_TRAILER,
    DataType,
    Status,
    Window,
    build_portfolio,
    status_block,
    stream_blocks,
)
from tests.warehouse_reader import query
from warehouse.adict import INFORMATIVE_CONSUMPTION, PUBLISHED_CONSUMPTION
from warehouse.build import build_windows
from warehouse.lake import Lake
from warehouse.lake_table import LakeTable
from warehouse.raw import Answer, RawZone
from warehouse.store import TableSpec

TODAY = date(2026, 11, 20)


def _store(raw: RawZone, dataset: str, pce: str, window: Window, blocks: list[dict]) -> Answer:
    body = b"\n".join(orjson.dumps(b) for b in [*blocks, SUCCESS_TRAILER]) + b"\n"
    answer = Answer("adict", dataset, pce, window.first, window.last, "", 0, "", "", TODAY)
    outcome = read_window(answer, body)
    kind = outcome.answers[0].kind
    return raw.put(
        "adict", dataset, pce, window.first, window.last, body, kind, len(outcome.blocks)
    )


def _answers(raw: RawZone, dataset: str, data_type: DataType) -> list[Answer]:
    """Every PCE's year of answers, then a restatement of a month for some, and awkward
    answers: data with a no-data block in it, data with a block to retry (partial)."""
    portfolio = build_portfolio(seed=11, size=12, anchor=TODAY)
    year = Window(TODAY - timedelta(days=365), TODAY - timedelta(days=1))
    month = Window(TODAY - timedelta(days=60), TODAY - timedelta(days=30))
    answers = []
    for pce in portfolio.pces:
        blocks = list(stream_blocks(portfolio, pce.id_pce, data_type, year, TODAY))
        answers.append(_store(raw, dataset, pce.id_pce, year, blocks))
    for pce in portfolio.pces[:4]:
        blocks = list(stream_blocks(portfolio, pce.id_pce, data_type, month, TODAY))
        answers.append(_store(raw, dataset, pce.id_pce, month, blocks))
    pce = portfolio.pces[0].id_pce
    blocks = list(stream_blocks(portfolio, pce, data_type, month, TODAY))
    no_data = status_block(pce, data_type, Status.NO_DATA, month.echo)
    retry = {
        "valeur": None,
        "date_debut": str(month.first),
        "date_fin": str(month.first + timedelta(3)),
    }
    answers.append(_store(raw, dataset, pce, month, [*blocks, no_data]))
    answers.append(
        _store(
            raw,
            dataset,
            pce,
            month,
            [status_block(pce, data_type, Status.RETRY_PERIOD, retry), *blocks[3:]],
        )
    )
    return answers


@pytest.mark.parametrize(
    ("spec", "data_type"),
    [(INFORMATIVE_CONSUMPTION, DataType.INFORMATIVE), (PUBLISHED_CONSUMPTION, DataType.PUBLISHED)],
)
def test_files_read_by_duckdb_land_as_the_parsed_answers(
    tmp_path: Path, spec: TableSpec, data_type: DataType
) -> None:
    raw = RawZone(tmp_path / "files")
    answers = _answers(raw, spec.name, data_type)
    outcomes = {a.outcome for a in answers}
    assert {"data", "partial"} <= outcomes  # both paths run
    first, last = TODAY - timedelta(days=400), TODAY
    fast = LakeTable(Lake.at(tmp_path / "files"), spec)
    build_windows(fast, raw, answers, first, last, read_window)
    # The reference: every answer through the client's parser (as a partial one goes).
    parsed = LakeTable(Lake.at(tmp_path / "parsed"), spec)
    as_parsed = [replace(a, outcome="partial") if a.outcome == "data" else a for a in answers]
    build_windows(parsed, raw, as_parsed, first, last, read_window)

    sql = f"SELECT * FROM {spec.schema}.{spec.name} ORDER BY ALL"
    landed = query(tmp_path / "files", sql)
    assert len(landed) > 300
    assert landed == query(tmp_path / "parsed", sql)
