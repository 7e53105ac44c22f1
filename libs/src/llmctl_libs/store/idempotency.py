"""Idempotent requests: the same key with the same body replays; a different body is refused.

A service that owns a mutating operation (create a model, save a flowchart, start a run) keeps
one row per ``(scope, key)`` in its own schema. The row is inserted at the start of the
operation's transaction, so a concurrent request with the same key waits for the first to
commit and then replays its stored result; a request with the same key but a different body
gets ``idempotency_mismatch`` (HTTP 422), naming the ``Idempotency-Key`` header.

The fingerprint is computed by the owning service from the decoded request (the gateway stays
stateless), with the idempotency and tracing fields left out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from llmctl_contracts import ErrorBody, ErrorCode

from ..rpc import RpcError

__all__ = [
    "NOT_SEEN",
    "TRACING_FIELDS",
    "IdempotentRequests",
    "idempotency_table",
    "request_fingerprint",
]

TRACING_FIELDS = frozenset({"idempotency_key", "request_id", "correlation_id", "causation_id"})
"""Request fields that never count towards the fingerprint."""


class _NotSeen:
    def __repr__(self) -> str:
        return "NOT_SEEN"


NOT_SEEN: Any = _NotSeen()
"""Returned by :meth:`IdempotentRequests.begin` when the key is new: do the work."""


def idempotency_table(metadata: sa.MetaData, name: str = "idempotency") -> sa.Table:
    """The table of remembered requests, in ``metadata``'s schema."""
    return sa.Table(
        name,
        metadata,
        sa.Column("scope", sa.Text, primary_key=True),
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column("result", JSONB, nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )


def request_fingerprint(request: Any, exclude: Iterable[str] = TRACING_FIELDS) -> str:
    """SHA-256 of the request's canonical JSON, without the ``exclude`` fields."""
    value = msgspec.to_builtins(request)
    if isinstance(value, dict):
        skip = set(exclude)
        value = {k: v for k, v in value.items() if k not in skip}
    canonical = msgspec.json.encode(value, order="sorted")
    return hashlib.sha256(canonical).hexdigest()


class IdempotentRequests:
    """Begin/finish an idempotent operation inside the caller's transaction."""

    def __init__(self, table: sa.Table) -> None:
        self._table = table

    async def begin(self, conn: AsyncConnection, scope: str, key: str, fingerprint: str) -> Any:
        """Claim ``key`` in ``scope``: :data:`NOT_SEEN` if new, else the stored result.

        Raises:
            RpcError: ``idempotency_mismatch`` when the key was used with another body.
        """
        t = self._table
        claimed = (
            await conn.execute(
                insert(t)
                .values(scope=scope, key=key, fingerprint=fingerprint)
                .on_conflict_do_nothing(index_elements=[t.c.scope, t.c.key])
                .returning(t.c.key)
            )
        ).first()
        if claimed is not None:
            return NOT_SEEN
        row = (
            await conn.execute(
                sa.select(t.c.fingerprint, t.c.result).where(t.c.scope == scope, t.c.key == key)
            )
        ).one()
        if row.fingerprint != fingerprint:
            reason = "this key was already used with a different request body"
            raise RpcError(
                ErrorBody.for_field(
                    ErrorCode.IDEMPOTENCY_MISMATCH,
                    "header.Idempotency-Key",
                    reason,
                    message=f"Idempotency-Key {key!r}: {reason}",
                )
            )
        return row.result

    async def finish(self, conn: AsyncConnection, scope: str, key: str, result: Any) -> None:
        """Store the operation's result (JSON-able) for replays of ``key``."""
        t = self._table
        await conn.execute(
            sa.update(t)
            .where(t.c.scope == scope, t.c.key == key)
            .values(result=msgspec.to_builtins(result))
        )
