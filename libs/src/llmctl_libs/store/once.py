"""Exactly-once recording of a consumer's effect in one statement (one round trip).

A consumer whose effect is "append these events to one stream and publish these messages"
(the router's decisions, for example) needs an inbox claim, an events insert and an outbox
insert, atomically. :class:`OnceRecorder` does all three in one data-modifying statement run
in autocommit mode: one round trip and one commit instead of five round trips (BEGIN, claim,
append, outbox, COMMIT). The events and outbox rows are written only when the claim is new
(``WHERE EXISTS (SELECT FROM claim)``), and a single statement is atomic, so a redelivered
message has no second effect and a failure leaves nothing behind.
"""

from __future__ import annotations

from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg.rows import namedtuple_row
from sqlalchemy.exc import IntegrityError

from .base import ConcurrencyError, NewEvent
from .database import Database
from .driver import driver_connection
from .outbox import OutboxMessage, PendingMessage
from .tables import StoreTables

__all__ = ["OnceRecorder"]


class OnceRecorder:
    """Claims a message and records its events and outbox messages in one statement."""

    def __init__(self, tables: StoreTables) -> None:
        inbox, events, outbox = (
            _qualified(tables.inbox),
            _qualified(tables.events),
            _qualified(tables.outbox),
        )
        # Rows are inserted in argument order (WITH ORDINALITY ... ORDER BY), so outbox ids
        # follow the message order, which is the order the relay publishes in.
        self._statement = f"""
            WITH claim AS (
                INSERT INTO {inbox} (consumer, message_id) VALUES (%(consumer)s, %(message_id)s)
                ON CONFLICT DO NOTHING
                RETURNING 1
            ), appended AS (
                INSERT INTO {events}
                    (stream_id, version, event_id, type, type_version, envelope, idempotency_key)
                SELECT %(stream_id)s, %(expected_version)s + e.ord, e.event_id, e.type,
                       e.type_version, e.envelope, e.idempotency_key
                FROM unnest(
                    %(event_ids)s::text[], %(event_types)s::text[],
                    %(event_type_versions)s::integer[], %(event_envelopes)s::bytea[],
                    %(event_keys)s::text[]
                ) WITH ORDINALITY
                    AS e(event_id, type, type_version, envelope, idempotency_key, ord)
                WHERE EXISTS (SELECT 1 FROM claim)
                ORDER BY e.ord
            ), queued AS (
                INSERT INTO {outbox} (subject, msg_id, body)
                SELECT m.subject, m.msg_id, m.body
                FROM unnest(
                    %(subjects)s::text[], %(msg_ids)s::text[],
                    %(bodies)s::bytea[]
                ) WITH ORDINALITY AS m(subject, msg_id, body, ord)
                WHERE EXISTS (SELECT 1 FROM claim)
                ORDER BY m.ord
                RETURNING id
            )
            SELECT (SELECT count(*) FROM claim) AS claimed,
                   (SELECT array_agg(id ORDER BY id) FROM queued) AS outbox_ids
            """

    async def record(
        self,
        database: Database,
        *,
        consumer: str,
        message_id: str,
        stream_id: str,
        expected_version: int,
        events: list[NewEvent],
        messages: list[OutboxMessage],
    ) -> list[PendingMessage] | None:
        """Claim ``message_id`` for ``consumer`` and, the first time only, append ``events``
        to ``stream_id`` (after ``expected_version``) and queue ``messages``; committed on
        return.

        Returns:
            The outbox rows to hand to the relay, or ``None`` when the message was processed
            before (nothing written).

        Raises:
            ConcurrencyError: the stream is not at ``expected_version`` or an event's
                idempotency key repeats (nothing written, the claim included).
        """
        params: dict[str, Any] = {
            "consumer": consumer,
            "message_id": message_id,
            "stream_id": stream_id,
            "expected_version": expected_version,
            "event_ids": [e.event_id for e in events],
            "event_types": [e.type for e in events],
            "event_type_versions": [e.type_version for e in events],
            "event_envelopes": [e.envelope for e in events],
            "event_keys": [e.idempotency_key for e in events],
            "subjects": [m.subject for m in messages],
            "msg_ids": [m.msg_id for m in messages],
            "bodies": [m.body for m in messages],
        }
        try:
            async with database.engine.connect() as conn:
                autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
                driver = await driver_connection(autocommit)
                async with driver.cursor(row_factory=namedtuple_row) as cursor:
                    await cursor.execute(self._statement, params)
                    row: Any = await cursor.fetchone()
        except (IntegrityError, psycopg.IntegrityError) as exc:
            raise ConcurrencyError(
                f"stream {stream_id} is not at version {expected_version} "
                "or an idempotency key repeats"
            ) from exc
        if not row.claimed:
            return None
        ids = list(row.outbox_ids or [])
        return [PendingMessage(row_id, m) for row_id, m in zip(ids, messages, strict=True)]


def _qualified(table: sa.Table) -> str:
    return f'"{table.schema}"."{table.name}"' if table.schema else f'"{table.name}"'
