"""A database with a set of tables created from their metadata, for tests on real Postgres."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import sqlalchemy as sa

from ..store import Database

__all__ = ["database_with"]


@asynccontextmanager
async def database_with(database_url: str, metadata: sa.MetaData) -> AsyncIterator[Database]:
    """Create the schemas and tables of ``metadata`` (if missing); dispose of the engine on
    exit (the tables stay, as a migrated service's would)."""
    database = Database(database_url)
    schemas = {table.schema for table in metadata.tables.values() if table.schema}
    async with database.transaction() as conn:
        for schema in sorted(schemas):
            await conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        await conn.run_sync(metadata.create_all)
    try:
        yield database
    finally:
        await database.dispose()
