"""Fixtures for the plumbing tests: a schema with the store tables on a fresh database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa

from llmctl_libs.store import Database, StoreTables, store_tables

SCHEMA = "plumbing"


@pytest.fixture
async def store_db(database_url: str) -> AsyncIterator[tuple[Database, StoreTables]]:
    tables = store_tables(SCHEMA)
    db = Database(database_url)
    async with db.transaction() as conn:
        await conn.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
        await conn.run_sync(tables.metadata.create_all)
    try:
        yield db, tables
    finally:
        await db.dispose()
