"""Toolhub's own schema: event store plumbing plus the domain tables of :mod:`.domains.tables`."""

from __future__ import annotations

import sqlalchemy as sa

from llmctl_libs.store import store_tables

__all__ = ["SCHEMA", "metadata", "store"]

SCHEMA = "toolhub"
metadata = sa.MetaData(schema=SCHEMA)
store = store_tables(SCHEMA, metadata)

# The domain tables live on ``metadata`` too; importing them here lets the 0001 migration
# (which imports this module) create them.
import llmctl_toolhub.domains.tables  # noqa: E402, F401
