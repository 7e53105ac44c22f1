"""Migration 0002 adds the inbox's retention index to a router schema created before it."""

from __future__ import annotations

import sqlalchemy as sa

from llmctl_libs.store.migrations import migrate
from llmctl_router.app import DEFINITION

INDEX_QUERY = sa.text(
    "SELECT indexdef FROM pg_indexes WHERE schemaname = 'router' AND indexname = :name"
)


def _migrate(url: str) -> None:
    assert DEFINITION.migrations is not None
    migrate(url, schema=DEFINITION.schema or "", script_location=DEFINITION.migrations)


def test_0002_adds_the_inbox_index_and_is_idempotent(database_url: str) -> None:
    _migrate(database_url)  # head on an empty database: the index comes with the tables
    engine = sa.create_engine(database_url)
    try:
        with engine.begin() as conn:
            assert conn.execute(INDEX_QUERY, {"name": "inbox_processed_brin"}).scalar_one()
            conn.execute(sa.text("DROP INDEX router.inbox_processed_brin"))  # as 0001 left it
            conn.execute(sa.text("UPDATE router.alembic_version SET version_num = '0001'"))
        _migrate(database_url)
        _migrate(database_url)  # nothing left to do
        with engine.begin() as conn:
            definition = conn.execute(INDEX_QUERY, {"name": "inbox_processed_brin"}).scalar_one()
            version = conn.execute(sa.text("SELECT version_num FROM router.alembic_version"))
            assert version.scalar_one() == "0002"
    finally:
        engine.dispose()
    assert "USING brin (processed_at)" in definition
