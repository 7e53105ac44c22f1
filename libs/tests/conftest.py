"""Fixtures for the plumbing tests: a schema with the store tables on a fresh database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from llmctl_libs.store import Database, StoreTables, store_tables
from llmctl_libs.testing.database import database_with

SCHEMA = "plumbing"


@pytest.fixture
async def store_db(database_url: str) -> AsyncIterator[tuple[Database, StoreTables]]:
    tables = store_tables(SCHEMA)
    async with database_with(database_url, tables.metadata) as db:
        yield db, tables
