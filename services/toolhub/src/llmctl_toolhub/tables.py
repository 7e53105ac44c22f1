"""Toolhub's own schema (domain tables arrive with the special-node tools)."""

from __future__ import annotations

import sqlalchemy as sa

from llmctl_libs.store import store_tables

__all__ = ["SCHEMA", "metadata", "store"]

SCHEMA = "toolhub"
metadata = sa.MetaData(schema=SCHEMA)
store = store_tables(SCHEMA, metadata)
