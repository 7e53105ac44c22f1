"""Toolhub test fixtures: a migrated toolhub schema on the shared embedded Postgres."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from llmctl_contracts import ErrorBody
from llmctl_infra.testing import create_database, unique_database_name
from llmctl_libs.store import Database
from llmctl_libs.store.migrations import migrate
from llmctl_toolhub.app import DEFINITION
from llmctl_toolhub.domains.catalog import operations_by_name
from llmctl_toolhub.nodes.invoker import ToolCallError
from llmctl_toolhub.nodes.local_invoker import LocalToolInvoker


async def migrated_database(admin_url: str) -> Database:
    """A fresh database with toolhub's migrations applied."""
    url = create_database(admin_url, unique_database_name("toolhub"))
    assert DEFINITION.schema is not None and DEFINITION.migrations is not None
    await asyncio.to_thread(
        migrate, url, schema=DEFINITION.schema, script_location=DEFINITION.migrations
    )
    return Database(url, pool_size=2)


@pytest.fixture(scope="module")
async def toolhub_db(postgres_admin_url: str) -> AsyncIterator[Database]:
    """One migrated toolhub database per test module (tests use their own ids/scopes)."""
    database = await migrated_database(postgres_admin_url)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
def tools(toolhub_db: Database) -> LocalToolInvoker:
    """The in-process tool invoker without call recording."""
    return LocalToolInvoker(toolhub_db, operations_by_name())


async def tool_error(tools: LocalToolInvoker, tool: str, arguments: dict[str, Any]) -> ErrorBody:
    """The error a call must fail with."""
    with pytest.raises(ToolCallError) as info:
        await tools(tool, arguments)
    return info.value.body


@pytest.fixture
def refused() -> Any:
    """``await refused(tools, tool, arguments)`` -> the ``ErrorBody`` of a failing call."""
    return tool_error
