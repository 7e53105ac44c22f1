"""Inbox: processed message ids, recorded in the same transaction as their effects."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from .tables import StoreTables

__all__ = ["Inbox"]


class Inbox:
    """Claims a message id for a consumer; a redelivered message cannot be claimed twice."""

    def __init__(self, tables: StoreTables) -> None:
        self.table = tables.inbox

    async def claim(self, conn: AsyncConnection, consumer: str, message_id: str) -> bool:
        """Record ``message_id`` as processed by ``consumer``.

        Returns:
            ``True`` the first time; ``False`` when it was already processed (skip effects).
        """
        result = await conn.execute(
            insert(self.table)
            .values(consumer=consumer, message_id=message_id)
            .on_conflict_do_nothing()
            .returning(self.table.c.message_id)
        )
        return result.first() is not None

    async def seen(self, conn: AsyncConnection, consumer: str, message_id: str) -> bool:
        """Whether ``message_id`` was already processed by ``consumer``."""
        t = self.table
        result = await conn.execute(
            sa.select(sa.literal(1)).where(t.c.consumer == consumer, t.c.message_id == message_id)
        )
        return result.first() is not None
