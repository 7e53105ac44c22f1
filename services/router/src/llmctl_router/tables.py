"""The router's own schema: its routing-decision event store, outbox and inbox."""

from __future__ import annotations

import sqlalchemy as sa

from llmctl_libs.store import store_tables

__all__ = ["SCHEMA", "metadata", "store"]

SCHEMA = "router"
metadata = sa.MetaData(schema=SCHEMA)
store = store_tables(SCHEMA, metadata)
