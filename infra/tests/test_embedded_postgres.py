"""Embedded Postgres: committed rows survive a SIGKILL of the postmaster."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import create_engine, text

from llmctl_infra.embedded import PostgresServer
from llmctl_infra.process import pid_alive


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def test_row_survives_kill_and_restart(private_postgres_server: PostgresServer) -> None:
    server = private_postgres_server
    url = server.sqlalchemy_url()
    assert url == f"postgresql+psycopg://postgres@127.0.0.1:{server.port}/llmctl"
    with psycopg.connect(_libpq(url), autocommit=True) as conn:
        conn.execute("CREATE TABLE facts (id int PRIMARY KEY, body text)")
        conn.execute("INSERT INTO facts VALUES (1, 'kept')")

    old_pid = server.pid
    assert old_pid is not None
    server.kill()
    assert not pid_alive(old_pid)
    server.restart()
    assert server.pid != old_pid

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT body FROM facts WHERE id = 1")).scalar() == "kept"
    finally:
        engine.dispose()


def test_create_database(private_postgres_server: PostgresServer) -> None:
    url = private_postgres_server.create_database("extra_db")
    with psycopg.connect(_libpq(url)) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("extra_db",)
    with pytest.raises(RuntimeError, match="already exists"):
        private_postgres_server.create_database("extra_db")
    with pytest.raises(ValueError, match="invalid database name"):
        private_postgres_server.create_database("bad; name")


def test_database_url_fixture_gives_fresh_databases(
    database_url: str, postgres_admin_url: str
) -> None:
    with psycopg.connect(_libpq(database_url)) as conn:
        name = conn.execute("SELECT current_database()").fetchone()
    assert name is not None
    assert name[0].startswith("t_")
    assert name[0] not in postgres_admin_url
