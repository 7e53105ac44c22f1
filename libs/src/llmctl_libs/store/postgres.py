"""Postgres adapter of the event store port."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from .base import ConcurrencyError, EventStore, NewEvent, StoredEvent
from .tables import StoreTables

__all__ = ["PostgresEventStore"]


class PostgresEventStore(EventStore):
    """Event store on one schema's ``events`` table.

    ``UNIQUE(stream_id, version)`` gives optimistic concurrency: of two writers that read the
    same version, the second one's insert fails and it gets :class:`ConcurrencyError`. The
    failed insert aborts the caller's transaction (no savepoint on the hot path); a caller that
    wants to carry on after a conflict wraps the append in ``conn.begin_nested()``.
    """

    def __init__(self, tables: StoreTables) -> None:
        self._events = tables.events

    async def append(
        self,
        conn: AsyncConnection,
        stream_id: str,
        expected_version: int,
        events: list[NewEvent],
    ) -> int:
        if not events:
            return expected_version
        rows = [
            {
                "stream_id": stream_id,
                "version": expected_version + offset,
                "event_id": event.event_id,
                "type": event.type,
                "type_version": event.type_version,
                "envelope": event.envelope,
                "idempotency_key": event.idempotency_key,
            }
            for offset, event in enumerate(events, start=1)
        ]
        try:
            await conn.execute(sa.insert(self._events), rows)
        except IntegrityError as exc:
            raise ConcurrencyError(
                f"stream {stream_id} is not at version {expected_version} "
                "or an idempotency key repeats"
            ) from exc
        return expected_version + len(events)

    async def read(
        self,
        conn: AsyncConnection,
        stream_id: str,
        *,
        after_version: int = 0,
        limit: int | None = None,
    ) -> list[StoredEvent]:
        t = self._events
        query = (
            sa.select(
                t.c.stream_id,
                t.c.version,
                t.c.event_id,
                t.c.type,
                t.c.type_version,
                t.c.envelope,
                t.c.recorded_at,
                t.c.superseded,
            )
            .where(t.c.stream_id == stream_id, t.c.version > after_version)
            .order_by(t.c.version)
        )
        if limit is not None:
            query = query.limit(limit)
        result = await conn.execute(query)
        return [
            StoredEvent(
                stream_id=row.stream_id,
                version=row.version,
                event_id=row.event_id,
                type=row.type,
                type_version=row.type_version,
                envelope=bytes(row.envelope),
                recorded_at=row.recorded_at,
                superseded=row.superseded,
            )
            for row in result
        ]

    async def current_version(self, conn: AsyncConnection, stream_id: str) -> int:
        t = self._events
        result = await conn.execute(
            sa.select(sa.func.coalesce(sa.func.max(t.c.version), 0)).where(
                t.c.stream_id == stream_id
            )
        )
        return int(result.scalar_one())

    async def mark_superseded(
        self, conn: AsyncConnection, stream_id: str, from_version: int, to_version: int
    ) -> int:
        t = self._events
        result = await conn.execute(
            sa.update(t)
            .where(
                t.c.stream_id == stream_id,
                t.c.version >= from_version,
                t.c.version <= to_version,
            )
            .values(superseded=True)
        )
        return int(result.rowcount)
