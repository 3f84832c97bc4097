import json

import pytest

from resources.streams import MalformedStreamError, Trailer, iter_json_objects, split_trailer

BLOCKS = [
    {"pce": {"id_pce": "12345678901234"}, "v": [1, {"a": None}]},
    {"pce": {"id_pce": "GI123456"}},
]
TRAILER = {"code_statut_traitement": "0000000000", "message_retour_traitement": "ok"}


def chunked(data: bytes, size: int = 7) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def ndjson(objects: list[dict]) -> bytes:
    return b"".join(json.dumps(o).encode() + b"\n" for o in objects)


@pytest.mark.parametrize(
    "body",
    [
        ndjson([*BLOCKS, TRAILER]),
        b"".join(json.dumps(o, indent=2).encode() + b"\n" for o in [*BLOCKS, TRAILER]),
        json.dumps({**TRAILER, "liste_acces": BLOCKS}, indent=2).encode(),
        ndjson([*BLOCKS, TRAILER]).replace(b"\n", b"\r\n"),
    ],
    ids=["ndjson", "multi-line", "wrapper", "crlf"],
)
def test_the_three_forms_give_the_same_records(body: bytes) -> None:
    records, trailer = split_trailer(iter_json_objects(chunked(body)))
    assert records == BLOCKS
    assert trailer == Trailer("0000000000", "ok")


def test_a_stream_without_trailer_is_read_but_has_no_status() -> None:
    records, trailer = split_trailer(iter_json_objects([ndjson(BLOCKS)]))
    assert records == BLOCKS and trailer is None


def test_a_broken_line_is_an_error_naming_the_line() -> None:
    body = ndjson(BLOCKS[:1]) + b'{"pce": {"id_pce": "1"\n' + ndjson(BLOCKS[1:])
    with pytest.raises(MalformedStreamError, match="line 2"):
        list(iter_json_objects(chunked(body)))


def test_a_truncated_last_object_is_an_error() -> None:
    body = ndjson(BLOCKS)[:-10]
    with pytest.raises(MalformedStreamError):
        list(iter_json_objects([body]))


def test_data_after_the_trailer_is_an_error() -> None:
    with pytest.raises(MalformedStreamError, match="after the status"):
        split_trailer(iter_json_objects([ndjson([BLOCKS[0], TRAILER, BLOCKS[1]])]))


def test_a_non_object_line_is_an_error() -> None:
    with pytest.raises(MalformedStreamError, match="expected a JSON object"):
        list(iter_json_objects([b"[1, 2]\n"]))
