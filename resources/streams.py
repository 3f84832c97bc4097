"""Reading GRDF's JSON streams: NDJSON, pretty-printed multi-line objects, or a wrapper.

ADICT answers NDJSON (one object per line) ending with a status object. The access-rights
list has also been seen as one object `{"code_statut_traitement": …, "liste_acces": [...]}`,
and GRDF's sandbox has sent indented multi-line objects. `iter_json_objects` yields the
objects of all three forms; `split_trailer` separates the status object.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

SUCCESS_CODE = "0000000000"
_WRAPPER_KEYS = ("liste_acces",)


class MalformedStreamError(ValueError):
    """A line (or group of lines) that is not JSON: the call's data cannot be trusted."""


@dataclass(frozen=True)
class Trailer:
    code: str
    message: str

    @property
    def ok(self) -> bool:
        return self.code == SUCCESS_CODE


def iter_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Split a byte stream into lines; a long line is joined once, not re-scanned per chunk."""
    partial: list[bytes] = []
    for chunk in chunks:
        *lines, rest = chunk.split(b"\n")
        if lines:
            yield b"".join([*partial, lines[0]])
            yield from lines[1:]
            partial = []
        partial.append(rest)
    if tail := b"".join(partial):
        yield tail


def iter_json_objects(chunks: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    """Yield every JSON object of the stream, whichever of the three forms it uses."""
    for obj in _iter_top_level(chunks):
        wrapped = next((obj[key] for key in _WRAPPER_KEYS if isinstance(obj.get(key), list)), None)
        if wrapped is None:
            yield obj
            continue
        yield from wrapped
        yield {k: v for k, v in obj.items() if k not in _WRAPPER_KEYS}


def _iter_top_level(chunks: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    # Fast path: one object per line. A line that does not parse alone starts a group
    # that grows until it parses (a pretty-printed object closes with a line "}").
    group: list[bytes] = []
    group_start = 0
    for number, line in enumerate(iter_lines(chunks), start=1):
        if not group:
            if not line.strip():
                continue
            try:
                yield _as_object(orjson.loads(line), number)
                continue
            except orjson.JSONDecodeError:
                group, group_start = [line], number
                continue
        if line.startswith(b"{") and _parses_alone(line):
            # A whole object on its own line while a group is open: the group was a
            # broken line, not the start of a pretty-printed object.
            _raise_malformed(group, group_start)
        group.append(line)
        if line.rstrip().endswith((b"}", b"]")):
            try:
                parsed = orjson.loads(b"\n".join(group))
            except orjson.JSONDecodeError:
                continue
            yield _as_object(parsed, group_start)
            group = []
    if group:
        _raise_malformed(group, group_start)


def _parses_alone(line: bytes) -> bool:
    try:
        return isinstance(orjson.loads(line), dict)
    except orjson.JSONDecodeError:
        return False


def _raise_malformed(group: list[bytes], start: int) -> None:
    # No preview of the content: a line of the rights list carries holder personal data.
    size = sum(len(line) for line in group)
    raise MalformedStreamError(
        f"malformed JSON from line {start} ({len(group)} lines, {size} bytes)"
    )


def _as_object(value: Any, line: int) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MalformedStreamError(
            f"line {line}: expected a JSON object, got {type(value).__name__}"
        )
    return value


def split_trailer(objects: Iterable[dict[str, Any]]) -> tuple[list[dict[str, Any]], Trailer | None]:
    """Separate the data objects from the status object that may end the stream."""
    records: list[dict[str, Any]] = []
    trailer: Trailer | None = None
    for obj in objects:
        if "code_statut_traitement" in obj:
            trailer = Trailer(
                str(obj.get("code_statut_traitement")),
                str(obj.get("message_retour_traitement", "")),
            )
            continue
        if trailer is not None:
            raise MalformedStreamError("data after the status object: the stream is not one answer")
        records.append(obj)
    return records, trailer
