"""Transactional outbox and its relay to JetStream."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from ..bus import Bus
from .database import Database
from .driver import driver_connection
from .tables import StoreTables

__all__ = [
    "HEADER_ROOM",
    "MARK_DELAY_SECONDS",
    "Outbox",
    "OutboxInsert",
    "OutboxMessage",
    "OutboxRelay",
    "PendingMessage",
    "message_limit",
]

logger = logging.getLogger(__name__)

HEADER_ROOM = 4096
"""Bytes of the bus's ``max_payload`` left for a message's headers (the server counts them
with the body; ``Nats-Msg-Id`` and a trace take a few hundred)."""


def message_limit(bus: Bus) -> int:
    """Largest message body, in bytes, the relay publishes over ``bus`` (connected)."""
    return bus.max_payload - HEADER_ROOM


MARK_DELAY_SECONDS = 0.05
"""How long a published row waits to be marked, so that one statement marks every row
published meanwhile. Marking after every publish cost a statement (and a pooled connection)
per transaction: at one node execution at a time, about a seventh of the router's CPU and a
twelfth of the orchestrator's. A crash loses at most this much marking, which only
republishes rows the server's duplicate window then drops."""


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """A message to publish once the transaction that wrote it commits."""

    subject: str
    msg_id: str
    body: bytes


@dataclass(frozen=True, slots=True)
class PendingMessage:
    """An outbox row written in a transaction: publish it once that transaction commits."""

    row_id: int
    message: OutboxMessage


class Outbox:
    """Writes messages into the outbox table inside the caller's transaction."""

    def __init__(self, tables: StoreTables) -> None:
        self.table = tables.outbox
        # one multi-row insert on the driver; ids follow the message order
        self._insert = (
            f'INSERT INTO "{tables.outbox.schema}".outbox (subject, msg_id, body) '
            "SELECT m.subject, m.msg_id, m.body FROM unnest(%(subjects)b::text[], "
            "%(msg_ids)b::text[], %(bodies)b::bytea[]) WITH ORDINALITY "
            "AS m(subject, msg_id, body, ord) ORDER BY m.ord RETURNING id"
        )

    async def add(
        self, conn: AsyncConnection, messages: list[OutboxMessage]
    ) -> list[PendingMessage]:
        """Queue ``messages`` for publication (in order) when ``conn`` commits.

        Returns:
            The written rows, to hand to :meth:`OutboxRelay.enqueue` after the commit.
        """
        return await (await self.insert(conn, messages)).written()

    async def insert(self, conn: AsyncConnection, messages: list[OutboxMessage]) -> OutboxInsert:
        """Send the insert of ``messages`` without reading its result: inside a driver
        pipeline, statements queued after it (a COMMIT) travel in the same round trip, and
        :meth:`OutboxInsert.written` reads the rows once the pipeline has synced."""
        if not messages:
            return OutboxInsert(None, [])
        cursor = (await driver_connection(conn)).cursor()
        await cursor.execute(
            self._insert,
            {
                "subjects": [m.subject for m in messages],
                "msg_ids": [m.msg_id for m in messages],
                "bodies": [m.body for m in messages],
            },
        )
        return OutboxInsert(cursor, messages)


class OutboxInsert:
    """An outbox insert sent on the driver (see :meth:`Outbox.insert`)."""

    def __init__(self, cursor: psycopg.AsyncCursor[Any] | None, messages: list[OutboxMessage]):
        self._cursor = cursor
        self._messages = messages

    async def written(self) -> list[PendingMessage]:
        """The written rows, in the order of the messages."""
        if self._cursor is None:
            return []
        async with self._cursor as cursor:
            ids = sorted(row[0] for row in await cursor.fetchall())
        return [PendingMessage(row_id, m) for row_id, m in zip(ids, self._messages, strict=True)]


class OutboxRelay:
    """Publishes committed outbox rows to JetStream, then marks them published.

    Fast path: a service hands the rows it just committed to :meth:`enqueue`; one publisher
    task publishes them in commit order and hands them to a marker task, which waits
    ``mark_delay_seconds`` and then marks whatever has been published meanwhile in one
    statement (publishing never waits for a mark).
    Safety net: a poller publishes rows left unpublished for a while (a crash between commit
    and publish).
    A crash between publish and mark republishes with the same ``Nats-Msg-Id``: the
    server's duplicate window drops it, and consumers' inboxes make any later copy harmless.

    A row larger than the bus carries could never be published, and retrying it would hold
    back every row the poller takes with it: it is logged as an error (subject, message id,
    size) and marked as handled without being sent. The row stays in the outbox table. Its
    producers should not write one (the orchestrator fails a node whose command would be
    too large); a run event left off the bus this way is still in the run's history, where
    the gateway's gap fill finds it.
    """

    def __init__(
        self,
        database: Database,
        outbox: Outbox,
        bus: Bus,
        *,
        poll_seconds: float = 1.0,
        mark_delay_seconds: float = MARK_DELAY_SECONDS,
    ) -> None:
        self._db = database
        self._table = outbox.table
        self._bus = bus
        self._poll = poll_seconds
        self._mark_delay = mark_delay_seconds
        self._mark_published = (
            f'UPDATE "{outbox.table.schema}".outbox SET published_at = now() '
            "WHERE id = ANY(%(ids)b::bigint[])"
        )
        self._queue: asyncio.Queue[list[PendingMessage]] = asyncio.Queue()
        self._published: list[int] = []
        self._to_mark = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def enqueue(self, pending: list[PendingMessage]) -> None:
        """Publish rows whose transaction has committed (call only after the commit)."""
        if pending:
            self._queue.put_nowait(pending)

    async def start(self) -> None:
        """Start the publisher and the recovery poller."""
        self._tasks = [
            asyncio.create_task(self._publisher(), name="outbox-publisher"),
            asyncio.create_task(self._marker(), name="outbox-marker"),
            asyncio.create_task(self._poller(), name="outbox-poller"),
        ]

    async def stop(self) -> None:
        """Stop, marking what was published (rows left unmarked are republished by the next
        start's poller, and dropped by the server as duplicates)."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        row_ids, self._published = self._published, []
        if row_ids:
            try:
                await self._mark(row_ids)
            except Exception:
                logger.warning("could not mark published outbox rows at stop", exc_info=True)

    async def _publisher(self) -> None:
        while True:
            batch = await self._queue.get()
            while not self._queue.empty():
                batch.extend(self._queue.get_nowait())
            try:
                await self._publish([p.message for p in batch])
            except Exception:
                logger.exception("outbox publish failed; the poller will retry")
                continue
            self._published.extend(p.row_id for p in batch)
            self._to_mark.set()

    async def _marker(self) -> None:
        while True:
            await self._to_mark.wait()
            await asyncio.sleep(self._mark_delay)  # let more rows be published meanwhile
            self._to_mark.clear()
            row_ids, self._published = self._published, []
            try:
                await self._mark(row_ids)
            except Exception:
                # unmarked rows are republished by the poller; the duplicate window drops them
                logger.exception("marking outbox rows published failed")

    async def _poller(self) -> None:
        first = True
        while True:
            try:
                while await self.relay_once(min_age_seconds=0.0 if first else 2 * self._poll) > 0:
                    pass
                first = False
            except Exception:
                logger.exception("outbox poll failed; retrying")
            await asyncio.sleep(self._poll)

    async def _publish(self, messages: list[OutboxMessage]) -> None:
        # Publishes are sent in order and their acks awaited together (pipelined).
        limit = message_limit(self._bus)
        sendable = []
        for m in messages:
            if len(m.body) <= limit:
                sendable.append((m.subject, m.body, m.msg_id))
            else:
                logger.error(
                    "outbox message %s on %s is %d bytes, more than the bus carries (%d): "
                    "not published",
                    m.msg_id,
                    m.subject,
                    len(m.body),
                    limit,
                )
        await self._bus.publish_many(sendable)

    async def _mark(self, row_ids: list[int]) -> None:
        # Losing this mark in a crash only republishes (deduplicated): no fsync needed. Fixed
        # SQL on the driver: the marker runs after nearly every publish batch.
        async with self._db.unsynced() as conn:
            driver = await driver_connection(conn)
            await driver.execute(self._mark_published, {"ids": row_ids})

    async def relay_once(self, batch: int = 500, *, min_age_seconds: float = 0.0) -> int:
        """Publish one batch of rows unpublished for ``min_age_seconds``; returns the count."""
        t = self._table
        async with self._db.transaction() as conn:
            rows = (
                await conn.execute(
                    sa.select(t.c.id, t.c.subject, t.c.msg_id, t.c.body)
                    .where(
                        t.c.published_at.is_(None),
                        t.c.created_at
                        < sa.func.now() - sa.func.make_interval(0, 0, 0, 0, 0, 0, min_age_seconds),
                    )
                    .order_by(t.c.id)
                    .limit(batch)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0
            await self._publish(
                [
                    OutboxMessage(subject=r.subject, msg_id=r.msg_id, body=bytes(r.body))
                    for r in rows
                ]
            )
            await conn.execute(
                sa.update(t)
                .where(t.c.id.in_([r.id for r in rows]))
                .values(published_at=sa.func.now())
            )
        return len(rows)
