"""The services of the shared mode answer (a scale-out test of the fixtures themselves)."""

import psycopg2
import pytest

pytestmark = pytest.mark.scale_out


def test_each_test_gets_a_database_of_its_own(postgres_url: str) -> None:
    with psycopg2.connect(postgres_url) as con, con.cursor() as cursor:
        cursor.execute("SELECT current_database()")
        (name,) = cursor.fetchone()
    assert name.startswith("gazoduc_test_") and postgres_url.endswith(name)
