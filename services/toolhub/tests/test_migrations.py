"""A toolhub database migrated before the tool and domain tables existed is brought up to date."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from llmctl_infra.testing import create_database, unique_database_name
from llmctl_libs.store import store_tables
from llmctl_libs.store.migrations import migrate
from llmctl_toolhub.app import DEFINITION

NEW_TABLES = {"tool_calls", "tool_results", "memories", "plans", "milestones", "decisions"}


async def _tables(url: str) -> set[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                sa.text("SELECT tablename FROM pg_tables WHERE schemaname = 'toolhub'")
            )
            return set(rows.scalars())
    finally:
        await engine.dispose()


async def test_revision_0002_adds_the_tool_and_domain_tables(postgres_admin_url: str) -> None:
    url = create_database(postgres_admin_url, unique_database_name("toolhub_upgrade"))
    # what revision 0001 created before tools existed: the store tables, stamped at 0001
    old = store_tables("toolhub")
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.text("CREATE SCHEMA toolhub"))
            await conn.run_sync(old.metadata.create_all)
            await conn.execute(
                sa.text(
                    "CREATE TABLE toolhub.alembic_version (version_num VARCHAR(32) PRIMARY KEY)"
                )
            )
            await conn.execute(sa.text("INSERT INTO toolhub.alembic_version VALUES ('0001')"))
    finally:
        await engine.dispose()
    assert not NEW_TABLES & await _tables(url)
    assert DEFINITION.schema is not None
    assert DEFINITION.migrations is not None
    await asyncio.to_thread(
        migrate, url, schema=DEFINITION.schema, script_location=DEFINITION.migrations
    )
    assert await _tables(url) >= NEW_TABLES
