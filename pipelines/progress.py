"""Progress of long runs: calls done / planned, rate, ETA and rows landed.

A run logs a line every 10 % (or every minute); a command that runs assets in its own
process (`gazoduc demo`) can also watch every tick, to redraw a bar.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

Clock = Callable[[], float]
Watcher = Callable[["Progress"], None]
_watchers: list[Watcher] = []


@contextmanager
def watching(watcher: Watcher) -> Iterator[None]:
    """Call `watcher(progress)` after every tick of every Progress of this process."""
    _watchers.append(watcher)
    try:
        yield
    finally:
        _watchers.remove(watcher)


@dataclass
class Progress:
    planned: int
    log: logging.Logger | logging.LoggerAdapter
    label: str = "calls"
    every_percent: float = 10.0
    every_seconds: float = 60.0
    clock: Clock = time.monotonic  # tests move their own
    done: int = 0
    rows: int = 0
    _first_tick: float | None = field(default=None, init=False, repr=False)
    _last_tick: float | None = field(default=None, init=False, repr=False)
    _last_report: float = field(init=False, repr=False)
    _last_percent: float = field(default=0.0, init=False, repr=False)

    def __post_init__(self) -> None:
        self._last_report = self.clock()

    def tick(self, rows: int = 0) -> None:
        now = self.clock()
        self.done += 1
        self.rows += rows
        if self._first_tick is None:
            self._first_tick = now
        self._last_tick = now
        if (
            self.done == self.planned
            or self.percent - self._last_percent >= self.every_percent
            or now - self._last_report >= self.every_seconds
        ):
            self._last_percent, self._last_report = self.percent, now
            self.log.info(self.line())
        for watcher in _watchers:
            watcher(self)

    @property
    def percent(self) -> float:
        return 100.0 * self.done / max(self.planned, 1)

    @property
    def rate(self) -> float:
        """Calls per second between the first call's end and the last one's: N calls make
        N - 1 intervals (the first call goes out at once; counting it reads 1.85/s at 1/s).
        0.0 until two calls are done."""
        if self._first_tick is None or self._last_tick is None:
            return 0.0
        elapsed = self._last_tick - self._first_tick
        return (self.done - 1) / elapsed if elapsed > 0 else 0.0

    @property
    def eta_seconds(self) -> float | None:
        """Seconds left at the current rate; None until there is a rate."""
        return (self.planned - self.done) / self.rate if self.rate else None

    def line(self) -> str:
        rate = f"{self.rate:.2f}/s" if self.rate else "?/s"
        return (
            f"{self.label} {self.done:,}/{self.planned:,} ({self.percent:.0f}%), {rate}, "
            f"ETA {_duration(self.eta_seconds)}, {self.rows:,} rows"
        )

    def bar(self, width: int = 20) -> str:
        """The line behind a bar of `width` characters, for a terminal."""
        filled = min(width, round(width * self.done / max(self.planned, 1)))
        return f"[{'#' * filled}{'.' * (width - filled)}] {self.line()}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"
