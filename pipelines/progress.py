"""Progress of long runs: calls done / planned, rate, ETA and rows landed."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field


@dataclass
class Progress:
    planned: int
    log: logging.Logger | logging.LoggerAdapter
    label: str = "calls"
    every_percent: float = 10.0
    every_seconds: float = 60.0
    done: int = 0
    rows: int = 0
    _started: float = field(default_factory=time.monotonic)
    _last_report: float = field(default_factory=time.monotonic)
    _last_percent: float = 0.0

    def tick(self, rows: int = 0) -> None:
        self.done += 1
        self.rows += rows
        percent = 100.0 * self.done / max(self.planned, 1)
        now = time.monotonic()
        if (
            self.done == self.planned
            or percent - self._last_percent >= self.every_percent
            or now - self._last_report >= self.every_seconds
        ):
            self._last_percent, self._last_report = percent, now
            self.log.info(self.line())

    @property
    def rate(self) -> float:
        elapsed = time.monotonic() - self._started
        return self.done / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
        remaining = self.planned - self.done
        eta = remaining / self.rate if self.rate else float("nan")
        return (
            f"{self.label} {self.done:,}/{self.planned:,} "
            f"({100.0 * self.done / max(self.planned, 1):.0f}%), {self.rate:.2f}/s, "
            f"ETA {_duration(eta)}, {self.rows:,} rows"
        )


def _duration(seconds: float) -> str:
    if seconds != seconds:  # NaN: no rate yet
        return "?"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"
