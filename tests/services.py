"""The real services the scale-out tests use, and whether this machine has them.

PostgreSQL (127.0.0.1:5432, trust auth) and RabbitMQ (127.0.0.1:5672, guest/guest) are
started by the machines CI runs on; S3 is moto's server, started by the tests themselves on
loopback. A test marked `scale_out` is skipped when a service is unreachable, and the run
ends with one line saying which did not run and why (tests/conftest.py).
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

POSTGRES = ("127.0.0.1", 5432)
RABBITMQ = ("127.0.0.1", 5672)
POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672//"
SERVICES = {"PostgreSQL": POSTGRES, "RabbitMQ": RABBITMQ}


def unreachable() -> list[str]:
    """The services this machine does not answer on, as `name (host:port)`."""
    missing = []
    for name, address in SERVICES.items():
        try:
            socket.create_connection(address, timeout=1).close()
        except OSError:
            missing.append(f"{name} ({address[0]}:{address[1]})")
    return missing


@contextmanager
def fresh_database() -> Iterator[str]:
    """A PostgreSQL database of its own for one test (its URL), dropped after."""
    import psycopg2

    name = f"gazoduc_test_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(POSTGRES_ADMIN_URL)
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
