"""Postgres adapter of the event store port."""

from __future__ import annotations

import psycopg
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from .base import ConcurrencyError, EventStore, NewEvent, StoredEvent
from .driver import driver_connection
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
        # one multi-row insert, straight on the driver (the hot path appends every step, and
        # a batch of steps appends to many runs' streams at once)
        self._append = (
            f'INSERT INTO "{tables.events.schema}".events '
            "(stream_id, version, event_id, type, type_version, envelope, idempotency_key) "
            "SELECT e.stream_id, e.version, e.event_id, e.type, e.type_version, e.envelope, "
            "e.idempotency_key FROM unnest(%(streams)b::text[], %(versions)b::integer[], "
            "%(ids)b::text[], %(types)b::text[], %(type_versions)b::integer[], "
            "%(envelopes)b::bytea[], %(keys)b::text[]) WITH ORDINALITY AS e(stream_id, "
            "version, event_id, type, type_version, envelope, idempotency_key, ord) "
            "ORDER BY e.ord"
        )

    async def append(
        self,
        conn: AsyncConnection,
        stream_id: str,
        expected_version: int,
        events: list[NewEvent],
    ) -> int:
        await self.append_streams(conn, [(stream_id, expected_version, events)])
        return expected_version + len(events)

    async def append_streams(
        self, conn: AsyncConnection, appends: list[tuple[str, int, list[NewEvent]]]
    ) -> None:
        streams: list[str] = []
        versions: list[int] = []
        events: list[NewEvent] = []
        for stream_id, expected_version, stream_events in appends:
            streams += [stream_id] * len(stream_events)
            versions += range(expected_version + 1, expected_version + 1 + len(stream_events))
            events += stream_events
        if not events:
            return
        params = {
            "streams": streams,
            "versions": versions,
            "ids": [e.event_id for e in events],
            "types": [e.type for e in events],
            "type_versions": [e.type_version for e in events],
            "envelopes": [e.envelope for e in events],
            "keys": [e.idempotency_key for e in events],
        }
        try:
            await (await driver_connection(conn)).execute(self._append, params)
        except (IntegrityError, psycopg.IntegrityError) as exc:
            named = ", ".join(f"{stream} at {version}" for stream, version, _ in appends[:5])
            named += ", ..." if len(appends) > 5 else ""
            raise ConcurrencyError(
                f"a stream is not at its expected version ({named}) or an idempotency key repeats"
            ) from exc

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
