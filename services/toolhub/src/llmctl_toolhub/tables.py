"""Toolhub's own schema: store plumbing, tool call records and the domain tables of
:mod:`.domains.tables`."""

from __future__ import annotations

import sqlalchemy as sa

from llmctl_libs.store import store_tables
from llmctl_libs.tools import tool_call_tables

__all__ = ["SCHEMA", "metadata", "store", "tool_calls"]

SCHEMA = "toolhub"
metadata = sa.MetaData(schema=SCHEMA)
store = store_tables(SCHEMA, metadata)
tool_calls = tool_call_tables(metadata)
"""``tool_calls`` (one audit record per call) and ``tool_results`` (replays by key)."""

# The domain tables live on ``metadata`` too; importing them here lets the 0001 migration
# (which imports this module) create them.
import llmctl_toolhub.domains.tables  # noqa: E402, F401
