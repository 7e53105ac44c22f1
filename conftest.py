"""Shared pytest fixtures: embedded NATS and Postgres, per-test databases.

Set ``LLMCTL_TEST_NATS_URL`` / ``LLMCTL_TEST_DATABASE_URL`` to run against external servers;
``nats_server``/``postgres_server`` (and the ``private_*`` ones, for tests that kill or
restart a server) are always embedded.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmctl_infra.embedded import NatsServer, PostgresServer
from llmctl_infra.testing import create_database, unique_database_name


def _nats(root: Path) -> Iterator[NatsServer]:
    server = NatsServer(root / "nats", log_path=root / "nats.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _postgres(root: Path) -> Iterator[PostgresServer]:
    server = PostgresServer(root / "pgdata", log_path=root / "postgres.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """An embedded NATS (JetStream) shared by the session; do not kill it."""
    yield from _nats(tmp_path_factory.mktemp("nats"))


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """An embedded Postgres shared by the session; do not kill it."""
    yield from _postgres(tmp_path_factory.mktemp("postgres"))


@pytest.fixture
def private_nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    """An embedded NATS of this test only: kill and restart it freely."""
    yield from _nats(tmp_path)


@pytest.fixture
def private_postgres_server(tmp_path: Path) -> Iterator[PostgresServer]:
    """An embedded Postgres of this test only: kill and restart it freely."""
    yield from _postgres(tmp_path)


@pytest.fixture(scope="session")
def nats_url(request: pytest.FixtureRequest) -> str:
    """``LLMCTL_TEST_NATS_URL`` or the shared embedded server's URL.

    The server is shared: use unique subjects/streams per test.
    """
    external = os.environ.get("LLMCTL_TEST_NATS_URL")
    if external:
        return external
    server: NatsServer = request.getfixturevalue("nats_server")
    return server.url


@pytest.fixture(scope="session")
def postgres_admin_url(request: pytest.FixtureRequest) -> str:
    """SQLAlchemy URL of a database on the shared server to create test databases from."""
    external = os.environ.get("LLMCTL_TEST_DATABASE_URL")
    if external:
        return external
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.sqlalchemy_url("postgres")


@pytest.fixture
def database_url(postgres_admin_url: str) -> str:
    """SQLAlchemy URL of a fresh, uniquely named database for this test."""
    return create_database(postgres_admin_url, unique_database_name())
