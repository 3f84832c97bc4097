"""What `gazoduc demo` shows the operator: one line per step, Dagster's story in a file."""

import io
import logging
import sys
from pathlib import Path

import dagster as dg
import pytest

from pipelines.demo import _two_columns
from pipelines.launch import FULL_LOG, Board, _problems_logged, logging_to
from pipelines.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


# No `from __future__ import annotations` in this module: Dagster reads this hint.
@dg.asset
def landed(context: dg.AssetExecutionContext) -> None:
    context.log.info("a line for the log file")
    logging.getLogger("resources.http").warning("retrying (attempt 2/5)")


@dg.asset
def held(context: dg.AssetExecutionContext) -> None:
    context.log.warning("2 calls retried")
    context.log.warning("1 PCE refused")
    context.log.error("ingrid.hourly_exceeding held: BI keeps its last checked data")


def _run_step(board: Board) -> None:
    board.start("adict/access_rights (snapshot)")
    progress = Progress(3, logging.getLogger("test"))
    for _ in range(3):
        progress.tick()
        board.show(progress)
    board.finish(True, "3 calls in 3 s")


def test_off_a_terminal_a_step_is_one_plain_line() -> None:
    out = io.StringIO()
    _run_step(Board(out))
    assert out.getvalue() == "✓ adict/access_rights (snapshot): 3 calls in 3 s\n"


def test_on_a_terminal_the_bar_is_redrawn_in_place_then_replaced_by_the_result(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    out = Terminal()
    _run_step(Board(out))
    text = out.getvalue()
    assert text.count("\n") == 1
    assert text.count("\r\x1b[K") == 5  # start, three ticks, the result
    assert "[####################] calls 3/3 (100%)" in text
    assert text.endswith("\r\x1b[K✓ adict/access_rights (snapshot): 3 calls in 3 s\n")


def test_dagster_logs_and_warnings_go_to_the_file_not_the_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    terminal = Terminal()  # Dagster colours its log when stdout is a terminal
    monkeypatch.setattr(sys, "stdout", terminal)
    log_path = tmp_path / "demo.log"
    with (
        dg.instance_for_test() as instance,
        log_path.open("a") as log_file,
        logging_to(log_file),
    ):
        assert dg.materialize([landed], instance=instance, run_config=FULL_LOG).success
    assert (terminal.getvalue(), capsys.readouterr().err) == ("", "")
    log = log_path.read_text()
    assert "\x1b[" not in log
    assert "a line for the log file" in log
    assert "DEBUG" in log and "STEP_SUCCESS" in log  # the whole story, debug events included
    assert "WARNING resources.http: retrying (attempt 2/5)" in log


def test_rows_per_view_fit_two_columns() -> None:
    counts = [("adict.access_rights", 20), ("ingrid.services", 3), ("sfm.hms_profiles", 1_488)]
    assert _two_columns(counts) == [
        "adict.access_rights      20   sfm.hms_profiles      1,488",
        "ingrid.services           3",
    ]


def test_a_step_line_says_how_many_warnings_and_errors_its_run_logged() -> None:
    with dg.instance_for_test() as instance:
        result = dg.materialize([held], instance=instance)
        assert _problems_logged(instance, result.run_id) == [
            "2 warnings in the log",
            "1 error in the log",
        ]
