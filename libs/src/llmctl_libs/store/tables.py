"""Table definitions of the event store, outbox and inbox, in a service's own schema."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

__all__ = ["INBOX_PROCESSED_INDEX", "StoreTables", "store_tables"]

INBOX_PROCESSED_INDEX = "inbox_processed_brin"
"""The inbox's index on ``processed_at`` (retention)."""


@dataclass(frozen=True, slots=True)
class StoreTables:
    """The three plumbing tables of one service schema."""

    metadata: sa.MetaData
    events: sa.Table
    outbox: sa.Table
    inbox: sa.Table


def store_tables(schema: str, metadata: sa.MetaData | None = None) -> StoreTables:
    """Build the event store, outbox and inbox tables in ``schema``."""
    md = metadata if metadata is not None else sa.MetaData(schema=schema)
    events = sa.Table(
        "events",
        md,
        sa.Column("position", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("stream_id", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("event_id", sa.Text, nullable=False, unique=True),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("type_version", sa.Integer, nullable=False),
        sa.Column("envelope", sa.LargeBinary, nullable=False),
        sa.Column("idempotency_key", sa.Text, nullable=True, unique=True),
        sa.Column("superseded", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column(
            "recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.UniqueConstraint("stream_id", "version", name="events_stream_version_key"),
        schema=schema,
    )
    outbox = sa.Table(
        "outbox",
        md,
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("msg_id", sa.Text, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Index(
            "outbox_unpublished_idx",
            "id",
            postgresql_where=sa.text("published_at IS NULL"),
        ),
        schema=schema,
    )
    inbox = sa.Table(
        "inbox",
        md,
        sa.Column("consumer", sa.Text, primary_key=True),
        sa.Column("message_id", sa.Text, primary_key=True),
        sa.Column(
            "processed_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.func.now(),
        ),
        # BRIN: rows arrive in processed_at order, so a few bytes per block range let the
        # retention sweeper find expired rows without a scan, at next to no cost per insert
        sa.Index(INBOX_PROCESSED_INDEX, "processed_at", postgresql_using="brin"),
        schema=schema,
    )
    return StoreTables(metadata=md, events=events, outbox=outbox, inbox=inbox)
