"""OnceRecorder against real Postgres: claim, events and outbox rows in one statement."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from llmctl_libs.store import (
    ConcurrencyError,
    Database,
    NewEvent,
    OnceRecorder,
    OutboxMessage,
    PostgresEventStore,
    StoreTables,
)


def event(n: int) -> NewEvent:
    return NewEvent(f"ev-{n}", "thing.done", 1, b"event %d" % n, f"key-{n}")


def message(n: int) -> OutboxMessage:
    return OutboxMessage(subject="llmctl.evt.test.once", msg_id=f"once-{n}", body=b"msg %d" % n)


async def _counts(db: Database, tables: StoreTables, consumer: str) -> tuple[int, int, int]:
    async with db.transaction() as conn:
        claims = await conn.scalar(
            sa.select(sa.func.count())
            .select_from(tables.inbox)
            .where(tables.inbox.c.consumer == consumer)
        )
        events = await conn.scalar(sa.select(sa.func.count()).select_from(tables.events))
        outbox = await conn.scalar(sa.select(sa.func.count()).select_from(tables.outbox))
    return int(claims or 0), int(events or 0), int(outbox or 0)


async def test_first_delivery_writes_everything_in_order_a_redelivery_nothing(
    store_db: tuple[Database, StoreTables],
) -> None:
    db, tables = store_db
    once = OnceRecorder(tables)
    consumer = "once.order"
    before = await _counts(db, tables, consumer)
    pending = await once.record(
        db,
        consumer=consumer,
        message_id="m-1",
        stream_id="stream-order",
        expected_version=0,
        events=[event(1), event(2)],
        messages=[message(1), message(2), message(3)],
    )
    assert pending is not None
    assert [p.message.msg_id for p in pending] == ["once-1", "once-2", "once-3"]
    assert [p.row_id for p in pending] == sorted(p.row_id for p in pending)
    async with db.transaction() as conn:
        rows = (
            await conn.execute(
                sa.select(tables.outbox.c.id, tables.outbox.c.msg_id, tables.outbox.c.body).where(
                    tables.outbox.c.id.in_([p.row_id for p in pending])
                )
            )
        ).all()
    assert {r.id: (r.msg_id, bytes(r.body)) for r in rows} == {
        p.row_id: (p.message.msg_id, p.message.body) for p in pending
    }
    stored = await _read(db, tables, "stream-order")
    assert [(e.version, e.event_id, e.envelope) for e in stored] == [
        (1, "ev-1", b"event 1"),
        (2, "ev-2", b"event 2"),
    ]
    again = await once.record(
        db,
        consumer=consumer,
        message_id="m-1",
        stream_id="stream-order",
        expected_version=0,
        events=[event(1), event(2)],
        messages=[message(1), message(2), message(3)],
    )
    assert again is None
    claims, events, outbox = await _counts(db, tables, consumer)
    assert (claims, events, outbox) == (before[0] + 1, before[1] + 2, before[2] + 3)


async def test_a_conflicting_append_writes_nothing_not_even_the_claim(
    store_db: tuple[Database, StoreTables],
) -> None:
    db, tables = store_db
    once = OnceRecorder(tables)
    consumer = "once.conflict"
    assert (
        await once.record(
            db,
            consumer=consumer,
            message_id="m-a",
            stream_id="stream-conflict",
            expected_version=0,
            events=[event(10)],
            messages=[message(10)],
        )
        is not None
    )
    before = await _counts(db, tables, consumer)
    with pytest.raises(ConcurrencyError):
        await once.record(
            db,
            consumer=consumer,
            message_id="m-b",
            stream_id="stream-conflict",
            expected_version=0,  # version 1 is taken
            events=[event(11)],
            messages=[message(11)],
        )
    assert await _counts(db, tables, consumer) == before
    # the claim was not kept, so the message can still be processed once it can succeed
    pending = await once.record(
        db,
        consumer=consumer,
        message_id="m-b",
        stream_id="stream-conflict",
        expected_version=1,
        events=[event(11)],
        messages=[message(11)],
    )
    assert pending is not None
    assert len(pending) == 1


async def test_a_claim_without_events_or_messages(
    store_db: tuple[Database, StoreTables],
) -> None:
    db, tables = store_db
    once = OnceRecorder(tables)
    kwargs = {
        "consumer": "once.empty",
        "message_id": "m-empty",
        "stream_id": "stream-empty",
        "expected_version": 0,
        "events": [],
        "messages": [],
    }
    assert await once.record(db, **kwargs) == []  # type: ignore[arg-type]
    assert await once.record(db, **kwargs) is None  # type: ignore[arg-type]


async def _read(db: Database, tables: StoreTables, stream_id: str) -> list:  # type: ignore[type-arg]
    async with db.transaction() as conn:
        return await PostgresEventStore(tables).read(conn, stream_id)
