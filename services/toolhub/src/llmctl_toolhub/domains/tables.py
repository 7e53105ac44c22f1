"""Domain tables (memories, plans, milestones, decisions) and node tool-call records.

Defined on :data:`llmctl_toolhub.tables.metadata`, which imports this module, so toolhub's
migrations see them.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from llmctl_toolhub.tables import metadata

__all__ = ["decisions", "memories", "milestones", "plans"]


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    ]


memories = sa.Table(
    "memories",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("scope", sa.Text, nullable=False),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("tags", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
    sa.Column("version", sa.Integer, nullable=False),
    *_timestamps(),
    sa.Index("memories_scope_created", "scope", "created_at"),
)

plans = sa.Table(
    "plans",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("completed", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("stages", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
    sa.Column("version", sa.Integer, nullable=False),
    *_timestamps(),
)

milestones = sa.Table(
    "milestones",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("priority", sa.Text, nullable=False),
    sa.Column("owner", sa.Text, nullable=True),
    sa.Column("progress_percent", sa.Integer, nullable=False, server_default="0"),
    sa.Column("health", sa.Text, nullable=False),
    sa.Column("latest_update", sa.Text, nullable=True),
    sa.Column("evidence", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
    sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("version", sa.Integer, nullable=False),
    *_timestamps(),
)

decisions = sa.Table(
    "decisions",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("question", sa.Text, nullable=False, server_default=""),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("options", JSONB, nullable=False),
    sa.Column("evaluation", JSONB, nullable=True),
    sa.Column("outcome", JSONB, nullable=True),
    sa.Column("version", sa.Integer, nullable=False),
    *_timestamps(),
)
