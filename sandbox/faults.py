"""Faults injected at run time, each one a misbehaviour seen from the real ADICT.

Counters (`fail_next`, `cut_next`, `trailer_error_next`) apply to the next N calls
or streams and decrement as they are used; flags stay until turned off.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import Field, dataclass, field, fields
from typing import Any


@dataclass
class Faults:
    latency_ms: int = 0  # added before every data call is answered
    fail_next: int = 0  # next N data calls answer HTTP 500
    cut_next: int = 0  # next N NDJSON streams stop half-way without ending the body
    pretty: bool = False  # NDJSON objects pretty-printed over several lines
    wrap_rights: bool = False  # droits_acces as one JSON object with `liste_acces`
    trailer_error_next: int = 0  # next N streams end with a non-zero status under HTTP 200
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def update(self, changes: Mapping[str, Any]) -> None:
        """Set fields from a JSON object; unknown names or wrong types raise ValueError."""
        known = {f.name: f for f in _public_fields()}
        with self._lock:
            for name, value in changes.items():
                if name not in known:
                    raise ValueError(f"unknown fault {name!r}")
                expected = bool if known[name].type == "bool" else int
                if type(value) is not expected:
                    raise ValueError(f"fault {name!r} must be {expected.__name__}")
                setattr(self, name, value)

    def take(self, counter: str) -> bool:
        """Consume one unit of a counter: True if the fault applies to this call."""
        with self._lock:
            left = getattr(self, counter)
            if left <= 0:
                return False
            setattr(self, counter, left - 1)
            return True

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in _public_fields()}


def _public_fields() -> list[Field[Any]]:
    return [f for f in fields(Faults) if not f.name.startswith("_")]
