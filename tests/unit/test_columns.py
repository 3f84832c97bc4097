from datetime import UTC, date, datetime

import pytest

from warehouse.columns import Kind, col, flatten

COLUMNS = [
    col("id", "pce.id_pce"),
    col("day", "c.journee_gaziere", Kind.DATE),
    col("start", "c.date_debut", Kind.TIMESTAMP),
    col("energy", "c.energie", Kind.DOUBLE),
    col("flag", "perim", Kind.VRAI_FAUX),
]
EXPECTED = [
    {
        "id": "GI123456",
        "day": date(2026, 10, 25),
        "start": datetime(2026, 10, 25, 4, tzinfo=UTC),
        "energy": 12.0,
        "flag": True,
    },
    {"id": "00000000000001", "day": None, "start": None, "energy": None, "flag": False},
    {"id": None, "day": None, "start": None, "energy": None, "flag": None},
]


def test_nested_records_become_typed_columns() -> None:
    records = [
        {
            "pce": {"id_pce": "GI123456"},
            "c": {
                "journee_gaziere": "2026-10-25",
                "date_debut": "2026-10-25T06:00:00+02:00",
                "energie": 12,
            },
            "perim": "VRAI",
        },
        {
            "pce": {"id_pce": "00000000000001"},
            "c": {"journee_gaziere": "", "date_debut": None, "energie": None},
            "perim": "faux",
        },
        {"pce": None, "c": None, "unknown": [1, 2]},
    ]
    assert flatten(records, COLUMNS).to_pylist() == EXPECTED


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({"c": {"energie": "12"}}, {"energy": 12.0}),  # a number sent as text
        ({"pce": {"id_pce": 1234}}, {"id": "1234"}),  # an id sent as a number
        ({"c": {"journee_gaziere": "2026-10-25T06:00:00+02:00"}}, {"day": date(2026, 10, 25)}),
        (
            {"c": {"date_debut": "2026-10-25 06:00:00"}},
            {"start": datetime(2026, 10, 25, 5, tzinfo=UTC)},
        ),
    ],
    ids=["number-as-text", "id-as-number", "datetime-in-date", "no-offset-is-paris"],
)
def test_unexpected_types_are_read_leniently(record: dict, expected: dict) -> None:
    (row,) = flatten([record], COLUMNS).to_pylist()
    assert {k: row[k] for k in expected} == expected
