"""Postgres records of tool calls: one audit row per call, one replay row per idempotency key.

Both live in the owning service's schema (toolhub: ``toolhub.tool_calls`` and
``toolhub.tool_results``) and are written in the call's own transaction, together with the
tool's effect.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from llmctl_contracts.tools import ToolCallRecord, ToolCallResult

__all__ = ["Claim", "ToolCallStore", "ToolCallTables", "tool_call_tables"]


@dataclass(frozen=True, slots=True)
class ToolCallTables:
    """The audit table and the replay table."""

    calls: sa.Table
    results: sa.Table


def tool_call_tables(metadata: sa.MetaData) -> ToolCallTables:
    """Define ``tool_calls`` and ``tool_results`` on ``metadata`` (in its schema)."""
    calls = sa.Table(
        "tool_calls",
        metadata,
        sa.Column("call_id", sa.Text, primary_key=True),
        sa.Column("tool", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("caller", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("idempotency_key", sa.Text, nullable=True),
        sa.Column("run_id", sa.Text, nullable=True),
        sa.Column("node_run_id", sa.Text, nullable=True),
        sa.Column("call_index", sa.Integer, nullable=True),
        sa.Column("request_id", sa.Text, nullable=True),
        sa.Column("correlation_id", sa.Text, nullable=True),
        sa.Column("error_code", sa.Text, nullable=True),
        sa.Column("record", JSONB, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Index("tool_calls_run_idx", "run_id", "started_at"),
        sa.Index("tool_calls_started_idx", "started_at"),
        sa.Index("tool_calls_node_run_idx", "node_run_id", "call_index"),
    )
    results = sa.Table(
        "tool_results",
        metadata,
        sa.Column("idempotency_key", sa.Text, primary_key=True),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column("result", JSONB, nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    return ToolCallTables(calls=calls, results=results)


@dataclass(frozen=True, slots=True)
class Claim:
    """What claiming an idempotency key found.

    Attributes:
        new: The key was free and is now held by this transaction: run the tool.
        fingerprint: The fingerprint stored with the key (when not new).
        result: The recorded result (when not new).
    """

    new: bool
    fingerprint: str | None = None
    result: ToolCallResult | None = None


class ToolCallStore:
    """Reads and writes :class:`ToolCallTables` inside the caller's transaction."""

    def __init__(self, tables: ToolCallTables) -> None:
        self.tables = tables

    async def claim(self, conn: AsyncConnection, key: str, fingerprint: str) -> Claim:
        """Claim ``key``; a concurrent claimer waits until this transaction ends."""
        t = self.tables.results
        claimed = (
            await conn.execute(
                insert(t)
                .values(idempotency_key=key, fingerprint=fingerprint)
                .on_conflict_do_nothing(index_elements=[t.c.idempotency_key])
                .returning(t.c.idempotency_key)
            )
        ).first()
        if claimed is not None:
            return Claim(new=True)
        row = (
            await conn.execute(
                sa.select(t.c.fingerprint, t.c.result).where(t.c.idempotency_key == key)
            )
        ).one()
        result = None if row.result is None else msgspec.convert(row.result, ToolCallResult)
        return Claim(new=False, fingerprint=row.fingerprint, result=result)

    async def record_result(self, conn: AsyncConnection, key: str, result: ToolCallResult) -> None:
        """Store the result that replays of ``key`` return."""
        t = self.tables.results
        await conn.execute(
            sa.update(t)
            .where(t.c.idempotency_key == key)
            .values(result=msgspec.to_builtins(result))
        )

    async def release(self, conn: AsyncConnection, key: str) -> None:
        """Forget ``key`` (a retryable failure: the next call with it runs again)."""
        t = self.tables.results
        await conn.execute(sa.delete(t).where(t.c.idempotency_key == key))

    async def append(self, conn: AsyncConnection, record: ToolCallRecord) -> None:
        """Insert the audit record of one call."""
        await conn.execute(
            sa.insert(self.tables.calls).values(
                call_id=record.call_id,
                tool=record.tool,
                version=record.version,
                caller=record.caller.value,
                status=record.status.value,
                idempotency_key=record.idempotency_key,
                run_id=record.run_id,
                node_run_id=record.node_run_id,
                call_index=record.call_index,
                request_id=record.request_id,
                correlation_id=record.correlation_id,
                error_code=record.error.code.value if record.error else None,
                record=msgspec.to_builtins(record),
                started_at=datetime.fromisoformat(record.started_at),
            )
        )

    async def records(
        self,
        conn: AsyncConnection,
        *,
        run_id: str,
        node_run_id: str | None = None,
        tool: str | None = None,
        status: str | None = None,
        limit: int = 50,
    ) -> list[ToolCallRecord]:
        """Audit records of one run (optionally one node run / tool / status), oldest first."""
        t = self.tables.calls
        query = sa.select(t.c.record).where(t.c.run_id == run_id)
        if node_run_id is not None:
            query = query.where(t.c.node_run_id == node_run_id)
        if tool is not None:
            query = query.where(t.c.tool == tool)
        if status is not None:
            query = query.where(t.c.status == status)
        rows = await conn.execute(query.order_by(t.c.started_at, t.c.call_id).limit(limit))
        return [msgspec.convert(r.record, ToolCallRecord) for r in rows]

    async def journal(
        self, conn: AsyncConnection, *, node_run_id: str, key_prefix: str
    ) -> list[ToolCallRecord]:
        """The calls made under ``key_prefix`` (one node-run attempt): per call index, the
        latest record that ran or was refused (replays left out), in index order."""
        t = self.tables.calls
        rows = await conn.execute(
            sa.select(t.c.record)
            .where(
                t.c.node_run_id == node_run_id,
                sa.func.starts_with(t.c.idempotency_key, key_prefix),
                t.c.call_index.is_not(None),
            )
            .order_by(t.c.call_index, t.c.started_at, t.c.call_id)
        )
        latest: dict[int, ToolCallRecord] = {}
        for row in rows:
            record = msgspec.convert(row.record, ToolCallRecord)
            if not record.replayed and record.call_index is not None:
                latest[record.call_index] = record
        return [latest[i] for i in sorted(latest)]

    async def record(self, conn: AsyncConnection, call_id: str) -> ToolCallRecord | None:
        """One audit record by id."""
        t = self.tables.calls
        row = (await conn.execute(sa.select(t.c.record).where(t.c.call_id == call_id))).first()
        return None if row is None else msgspec.convert(row.record, ToolCallRecord)

    async def summary(
        self,
        conn: AsyncConnection,
        *,
        since: datetime,
        tool: str | None,
        status: str | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        """Counts of calls since ``since`` grouped by tool and status (cross-run)."""
        t = self.tables.calls
        count = sa.func.count().label("calls")
        query = (
            sa.select(
                t.c.tool, t.c.status, count, sa.func.count(sa.distinct(t.c.run_id)).label("runs")
            )
            .where(t.c.started_at >= since)
            .group_by(t.c.tool, t.c.status)
            .order_by(count.desc(), t.c.tool, t.c.status)
            .limit(limit)
        )
        if tool is not None:
            query = query.where(t.c.tool == tool)
        if status is not None:
            query = query.where(t.c.status == status)
        rows = await conn.execute(query)
        return [
            {"tool": r.tool, "status": r.status, "calls": int(r.calls), "runs": int(r.runs)}
            for r in rows
        ]
