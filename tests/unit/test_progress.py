"""Progress: the rate counts intervals between calls, the ETA follows it; a clock we move."""

from __future__ import annotations

import logging

import pytest

from pipelines.progress import Progress, watching


class Clock:
    def __init__(self, start: float = 100.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def _paced(planned: int, seconds_apart: float, calls: int, clock: Clock) -> Progress:
    """`calls` of `planned`, the first answered 0.3 s after the start, then one every
    `seconds_apart` (a ledger at 1 call/s lets the first call go at once)."""
    progress = Progress(planned, logging.getLogger("test"), clock=clock)
    clock.now += 0.3
    for done in range(calls):
        if done:
            clock.now += seconds_apart
        progress.tick(rows=10)
    return progress


@pytest.mark.parametrize("calls", [2, 3, 20])
def test_calls_at_one_per_second_read_one_per_second_however_few(calls: int) -> None:
    progress = _paced(100, 1.0, calls, Clock())
    assert progress.rate == pytest.approx(1.0)
    assert progress.line().startswith(f"calls {calls}/100 ({calls}%), 1.00/s, ")


def test_the_eta_is_what_is_left_at_the_rate() -> None:
    progress = _paced(200, 0.5, 41, Clock())  # 2 calls/s, 159 left
    assert progress.eta_seconds == pytest.approx(79.5)
    assert "ETA 1m20s, 410 rows" in progress.line()


def test_long_etas_read_in_hours() -> None:
    progress = _paced(6000, 1.0, 600, Clock())
    assert progress.line().endswith("ETA 1h30m, 6,000 rows")


def test_before_a_second_call_there_is_no_rate_to_promise() -> None:
    progress = _paced(10, 1.0, 1, Clock())
    assert (progress.rate, progress.eta_seconds) == (0.0, None)
    assert progress.line() == "calls 1/10 (10%), ?/s, ETA ?, 10 rows"


def test_the_bar_fills_with_the_calls_done() -> None:
    progress = _paced(8, 1.0, 2, Clock())
    assert progress.bar(width=8) == "[##......] " + progress.line()


def test_a_line_is_logged_every_ten_percent_and_at_the_end(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="test"):
        _paced(20, 1.0, 20, Clock())
    assert [r.message.split(" (")[0] for r in caplog.records] == [
        f"calls {n}/20" for n in range(2, 21, 2)
    ]


def test_a_watcher_sees_every_tick_only_while_it_watches() -> None:
    seen: list[int] = []
    with watching(lambda progress: seen.append(progress.done)):
        _paced(5, 1.0, 3, Clock())
    _paced(5, 1.0, 2, Clock())
    assert seen == [1, 2, 3]
