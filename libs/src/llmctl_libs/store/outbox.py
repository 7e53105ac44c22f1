"""Transactional outbox and its relay to JetStream."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from ..bus import Bus
from .database import Database
from .tables import StoreTables

__all__ = ["Outbox", "OutboxMessage", "OutboxRelay"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """A message to publish once the transaction that wrote it commits."""

    subject: str
    msg_id: str
    body: bytes


class Outbox:
    """Writes messages into the outbox table inside the caller's transaction."""

    def __init__(self, tables: StoreTables) -> None:
        self.table = tables.outbox

    async def add(self, conn: AsyncConnection, messages: list[OutboxMessage]) -> None:
        """Queue ``messages`` for publication (in order) when ``conn`` commits."""
        if messages:
            await conn.execute(
                sa.insert(self.table),
                [{"subject": m.subject, "msg_id": m.msg_id, "body": m.body} for m in messages],
            )


class OutboxRelay:
    """Publishes committed outbox rows to JetStream, then marks them published.

    A crash between publish and mark republishes with the same ``Nats-Msg-Id``: the server's
    duplicate window drops it, and consumers' inboxes make any later copy harmless.
    Call :meth:`notify` after a commit for low latency; a poll catches anything left over.
    """

    def __init__(
        self, database: Database, outbox: Outbox, bus: Bus, *, poll_seconds: float = 0.5
    ) -> None:
        self._db = database
        self._table = outbox.table
        self._bus = bus
        self._poll = poll_seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def notify(self) -> None:
        """Wake the relay: something was committed."""
        self._wake.set()

    async def start(self) -> None:
        """Start relaying in the background."""
        self._task = asyncio.create_task(self._loop(), name="outbox-relay")

    async def stop(self) -> None:
        """Stop relaying (pending rows are picked up by the next start)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll)
            self._wake.clear()
            try:
                while await self.relay_once() > 0:
                    pass
            except Exception:
                logger.exception("outbox relay failed; retrying")
                await asyncio.sleep(self._poll)

    async def relay_once(self, batch: int = 500) -> int:
        """Publish one batch of unpublished rows; returns how many were published."""
        t = self._table
        async with self._db.transaction() as conn:
            rows = (
                await conn.execute(
                    sa.select(t.c.id, t.c.subject, t.c.msg_id, t.c.body)
                    .where(t.c.published_at.is_(None))
                    .order_by(t.c.id)
                    .limit(batch)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0
            for row in rows:
                await self._bus.publish(row.subject, bytes(row.body), msg_id=row.msg_id)
            await conn.execute(
                sa.update(t)
                .where(t.c.id.in_([r.id for r in rows]))
                .values(published_at=sa.func.now())
            )
        return len(rows)
