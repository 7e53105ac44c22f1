"""Exactly-once recording of a consumer's effect in one statement (one round trip).

A consumer whose effect is "append these events to one stream and publish these messages"
(the router's decisions, for example) needs an inbox claim, an events insert and an outbox
insert, atomically. :class:`OnceRecorder` does all three in one data-modifying statement run
in autocommit mode: one round trip and one commit instead of five round trips (BEGIN, claim,
append, outbox, COMMIT). The events and outbox rows are written only when the claim is new,
and a single statement is atomic, so a redelivered message has no second effect and a failure
leaves nothing behind. :meth:`OnceRecorder.record_many` records a batch of messages the same
way in one statement (group commit: one round trip and one commit for the batch).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg.rows import namedtuple_row

from .base import ConcurrencyError, NewEvent
from .database import Database
from .outbox import OutboxMessage, PendingMessage
from .tables import StoreTables

__all__ = ["OnceRecord", "OnceRecorder"]


@dataclass(frozen=True, slots=True)
class OnceRecord:
    """One message's effect: claim ``message_id`` for ``consumer`` and, the first time only,
    append ``events`` to ``stream_id`` (after ``expected_version``) and queue ``messages``."""

    consumer: str
    message_id: str
    stream_id: str
    expected_version: int
    events: list[NewEvent]
    messages: list[OutboxMessage]


class OnceRecorder:
    """Claims messages and records their events and outbox messages in one statement."""

    def __init__(self, tables: StoreTables) -> None:
        inbox, events, outbox = (
            _qualified(tables.inbox),
            _qualified(tables.events),
            _qualified(tables.outbox),
        )
        # Each event and outbox row carries the index of its record (``owner``); a record's
        # rows are written only if its claim is new. Rows are inserted in argument order
        # (WITH ORDINALITY ... ORDER BY), so outbox ids follow the message order, which is the
        # order the relay publishes in.
        self._statement = f"""
            WITH claim AS (
                INSERT INTO {inbox} (consumer, message_id)
                SELECT * FROM unnest(%(consumers)b::text[], %(message_ids)b::text[])
                ON CONFLICT DO NOTHING
                RETURNING consumer, message_id
            ), claimed AS (
                SELECT r.owner FROM unnest(%(consumers)b::text[], %(message_ids)b::text[])
                    WITH ORDINALITY AS r(consumer, message_id, owner)
                JOIN claim USING (consumer, message_id)
            ), appended AS (
                INSERT INTO {events}
                    (stream_id, version, event_id, type, type_version, envelope, idempotency_key)
                SELECT e.stream_id, e.version, e.event_id, e.type, e.type_version, e.envelope,
                       e.idempotency_key
                FROM unnest(
                    %(event_owners)b::bigint[], %(event_streams)b::text[],
                    %(event_versions)b::integer[], %(event_ids)b::text[],
                    %(event_types)b::text[], %(event_type_versions)b::integer[],
                    %(event_envelopes)b::bytea[], %(event_keys)b::text[]
                ) WITH ORDINALITY AS e(owner, stream_id, version, event_id, type, type_version,
                                       envelope, idempotency_key, ord)
                WHERE e.owner IN (SELECT owner FROM claimed)
                ORDER BY e.ord
            ), queued AS (
                INSERT INTO {outbox} (subject, msg_id, body)
                SELECT m.subject, m.msg_id, m.body
                FROM unnest(
                    %(message_owners)b::bigint[], %(subjects)b::text[], %(msg_ids)b::text[],
                    %(bodies)b::bytea[]
                ) WITH ORDINALITY AS m(owner, subject, msg_id, body, ord)
                WHERE m.owner IN (SELECT owner FROM claimed)
                ORDER BY m.ord
                RETURNING id
            )
            SELECT (SELECT array_agg(owner) FROM claimed) AS claimed,
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
        record = OnceRecord(consumer, message_id, stream_id, expected_version, events, messages)
        return (await self.record_many(database, [record]))[0]

    async def record_many(
        self, database: Database, records: list[OnceRecord]
    ) -> list[list[PendingMessage] | None]:
        """Record several messages' effects in one statement (one round trip, one commit).

        Returns:
            For each record, in order: its outbox rows, or ``None`` when its message was
            processed before (or appears earlier in ``records``).

        Raises:
            ConcurrencyError: a stream is not at its expected version or an event's
                idempotency key repeats: nothing of any record is written (record them one by
                one to find which).
        """
        owners: dict[tuple[str, str], int] = {}
        for index, record in enumerate(records, start=1):
            owners.setdefault((record.consumer, record.message_id), index)
        unique = [records[index - 1] for index in owners.values()]
        indexes = list(owners.values())
        params: dict[str, Any] = {
            "consumers": [r.consumer for r in unique],
            "message_ids": [r.message_id for r in unique],
            "event_owners": [],
            "event_streams": [],
            "event_versions": [],
            "event_ids": [],
            "event_types": [],
            "event_type_versions": [],
            "event_envelopes": [],
            "event_keys": [],
            "message_owners": [],
            "subjects": [],
            "msg_ids": [],
            "bodies": [],
        }
        for owner, record in enumerate(unique, start=1):
            for version, e in enumerate(record.events, start=record.expected_version + 1):
                params["event_owners"].append(owner)
                params["event_streams"].append(record.stream_id)
                params["event_versions"].append(version)
                params["event_ids"].append(e.event_id)
                params["event_types"].append(e.type)
                params["event_type_versions"].append(e.type_version)
                params["event_envelopes"].append(e.envelope)
                params["event_keys"].append(e.idempotency_key)
            for m in record.messages:
                params["message_owners"].append(owner)
                params["subjects"].append(m.subject)
                params["msg_ids"].append(m.msg_id)
                params["bodies"].append(m.body)
        try:
            async with (
                database.driver_autocommit() as conn,
                conn.cursor(row_factory=namedtuple_row) as cursor,
            ):
                await cursor.execute(self._statement, params)
                row: Any = await cursor.fetchone()
        except psycopg.IntegrityError as exc:
            streams = ", ".join(f"{r.stream_id} at {r.expected_version}" for r in unique[:5])
            streams += ", ..." if len(unique) > 5 else ""
            raise ConcurrencyError(
                f"a stream is not at its expected version ({streams}) or an idempotency key repeats"
            ) from exc
        claimed = set(row.claimed or [])
        ids = iter(row.outbox_ids or [])
        results: list[list[PendingMessage] | None] = [None] * len(records)
        for owner, (index, record) in enumerate(zip(indexes, unique, strict=True), start=1):
            if owner in claimed:
                results[index - 1] = [PendingMessage(next(ids), m) for m in record.messages]
        return results


def _qualified(table: sa.Table) -> str:
    return f'"{table.schema}"."{table.name}"' if table.schema else f'"{table.name}"'
