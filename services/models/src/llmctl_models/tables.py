"""The models service's own schema."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from llmctl_libs.store import store_tables
from llmctl_libs.store.idempotency import idempotency_table

__all__ = ["SCHEMA", "idempotency", "metadata", "models", "runtime_settings", "store"]

SCHEMA = "models"
metadata = sa.MetaData(schema=SCHEMA)
store = store_tables(SCHEMA, metadata)
idempotency = idempotency_table(metadata)

models = sa.Table(
    "models",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False, unique=True),
    sa.Column("provider", sa.Text, nullable=False),
    sa.Column("provider_model_id", sa.Text, nullable=False),
    sa.Column("base_url", sa.Text, nullable=True),
    # The credential reference: ``secret_kind`` (env | secret) and its name; never a value.
    sa.Column("api_key_ref", sa.Text, nullable=True),
    sa.Column("secret_kind", sa.Text, nullable=True),
    sa.Column("settings", JSONB, nullable=False, server_default="{}"),
    sa.Column("settings_schema_version", sa.Integer, nullable=False, server_default="1"),
    sa.Column("default_alias", sa.Text, nullable=True, unique=True),
    sa.Column("capability_tags", JSONB, nullable=False, server_default="[]"),
    sa.Column("is_default", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("builtin", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.Column(
        "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
)

runtime_settings = sa.Table(
    "runtime_settings",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("document", JSONB, nullable=False),
    sa.Column(
        "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
)
"""One row (``id = 'default'``) once the runtime settings are first saved."""
