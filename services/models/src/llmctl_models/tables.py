"""The models service's own schema."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from llmctl_libs.store import store_tables

__all__ = ["SCHEMA", "metadata", "models", "store"]

SCHEMA = "models"
metadata = sa.MetaData(schema=SCHEMA)
store = store_tables(SCHEMA, metadata)

models = sa.Table(
    "models",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False, unique=True),
    sa.Column("provider", sa.Text, nullable=False),
    sa.Column("provider_model_id", sa.Text, nullable=False),
    sa.Column("base_url", sa.Text, nullable=True),
    sa.Column("api_key_ref", sa.Text, nullable=True),
    sa.Column("settings", JSONB, nullable=False, server_default="{}"),
    sa.Column("is_default", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("builtin", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
)
