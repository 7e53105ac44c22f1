"""OnceRecorder against real Postgres: claim, events and outbox rows in one statement."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from llmctl_libs.store import (
    ConcurrencyError,
    Database,
    NewEvent,
    OnceRecord,
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


def _record(
    message_id: str,
    stream_id: str,
    *,
    expected_version: int = 0,
    events: list[NewEvent] | None = None,
    messages: list[OutboxMessage] | None = None,
    consumer: str = "once.many",
) -> OnceRecord:
    return OnceRecord(
        consumer=consumer,
        message_id=message_id,
        stream_id=stream_id,
        expected_version=expected_version,
        events=events or [],
        messages=messages or [],
    )


async def _outbox_rows(db: Database, tables: StoreTables) -> dict[int, tuple[str, bytes]]:
    async with db.transaction() as conn:
        rows = (
            await conn.execute(
                sa.select(tables.outbox.c.id, tables.outbox.c.msg_id, tables.outbox.c.body)
            )
        ).all()
    return {r.id: (r.msg_id, bytes(r.body)) for r in rows}


async def test_record_many_writes_every_record_in_one_call(
    store_db: tuple[Database, StoreTables],
) -> None:
    db, tables = store_db
    once = OnceRecorder(tables)
    async with db.transaction() as conn:
        await PostgresEventStore(tables).append(conn, "stream-b", 0, [event(100), event(101)])
    records = [
        _record("m-1", "stream-a", events=[event(1), event(2)], messages=[message(1)]),
        _record(
            "m-2",
            "stream-b",
            expected_version=2,
            events=[event(3)],
            messages=[message(2), message(3)],
        ),
        _record("m-3", "stream-c", events=[event(4)], messages=[message(4)]),
    ]
    results = await once.record_many(db, records)
    assert [None if r is None else [p.message for p in r] for r in results] == [
        [message(1)],
        [message(2), message(3)],
        [message(4)],
    ]
    row_ids = [p.row_id for r in results for p in r or []]
    assert row_ids == sorted(row_ids)  # outbox ids follow the records' and messages' order
    assert await _outbox_rows(db, tables) == {
        p.row_id: (p.message.msg_id, p.message.body) for r in results for p in r or []
    }
    assert [(e.version, e.event_id) for e in await _read(db, tables, "stream-a")] == [
        (1, "ev-1"),
        (2, "ev-2"),
    ]
    assert [(e.version, e.event_id) for e in await _read(db, tables, "stream-b")] == [
        (1, "ev-100"),
        (2, "ev-101"),
        (3, "ev-3"),
    ]
    assert [(e.version, e.event_id) for e in await _read(db, tables, "stream-c")] == [(1, "ev-4")]
    assert await _counts(db, tables, "once.many") == (3, 6, 4)


async def test_record_many_skips_a_message_claimed_before_and_writes_the_others(
    store_db: tuple[Database, StoreTables],
) -> None:
    db, tables = store_db
    once = OnceRecorder(tables)
    first = _record("m-old", "stream-old", events=[event(1)], messages=[message(1)])
    (written,) = await once.record_many(db, [first])
    assert written is not None
    assert [p.message for p in written] == [message(1)]
    before = await _counts(db, tables, "once.many")
    redelivered = _record("m-old", "stream-old", expected_version=1, events=[event(2)])
    results = await once.record_many(
        db,
        [
            _record("m-new-1", "stream-new-1", events=[event(3)], messages=[message(3)]),
            redelivered,
            _record("m-new-2", "stream-new-2", events=[event(4)], messages=[message(4)]),
        ],
    )
    assert results[1] is None
    assert results[0] is not None
    assert [p.message for p in results[0]] == [message(3)]
    assert results[2] is not None
    assert [p.message for p in results[2]] == [message(4)]
    outbox = await _outbox_rows(db, tables)
    assert {p.row_id: (p.message.msg_id, p.message.body) for r in results for p in r or []} == {
        row_id: row for row_id, row in outbox.items() if row[0] in ("once-3", "once-4")
    }
    assert [e.event_id for e in await _read(db, tables, "stream-old")] == ["ev-1"]
    assert [e.event_id for e in await _read(db, tables, "stream-new-1")] == ["ev-3"]
    assert [e.event_id for e in await _read(db, tables, "stream-new-2")] == ["ev-4"]
    assert await _counts(db, tables, "once.many") == (before[0] + 2, before[1] + 2, before[2] + 2)


async def test_record_many_writes_a_message_repeated_in_the_batch_once(
    store_db: tuple[Database, StoreTables],
) -> None:
    db, tables = store_db
    once = OnceRecorder(tables)
    results = await once.record_many(
        db,
        [
            _record("m-dup", "stream-dup", events=[event(1)], messages=[message(1)]),
            _record("m-other", "stream-other", events=[event(2)], messages=[message(2)]),
            # the same message again (a redelivery in the same batch): no second effect
            _record("m-dup", "stream-dup", events=[event(3)], messages=[message(3)]),
        ],
    )
    assert results[0] is not None
    assert [p.message for p in results[0]] == [message(1)]
    assert results[1] is not None
    assert [p.message for p in results[1]] == [message(2)]
    assert results[2] is None
    assert sorted(msg_id for msg_id, _ in (await _outbox_rows(db, tables)).values()) == [
        "once-1",
        "once-2",
    ]
    assert [(e.version, e.event_id) for e in await _read(db, tables, "stream-dup")] == [(1, "ev-1")]
    assert await _counts(db, tables, "once.many") == (2, 2, 2)


async def test_record_many_writes_nothing_of_a_batch_with_a_conflict(
    store_db: tuple[Database, StoreTables],
) -> None:
    db, tables = store_db
    once = OnceRecorder(tables)
    async with db.transaction() as conn:
        await PostgresEventStore(tables).append(conn, "stream-taken", 0, [event(50)])
    before = await _counts(db, tables, "once.many")
    good = [
        _record("m-good-1", "stream-good-1", events=[event(1)], messages=[message(1)]),
        _record("m-good-2", "stream-good-2", events=[event(2)], messages=[message(2)]),
    ]
    # key-50 was recorded already (on another stream): the whole statement fails
    bad = _record(
        "m-bad",
        "stream-bad",
        events=[NewEvent("ev-bad", "thing.done", 1, b"bad", "key-50")],
        messages=[message(3)],
    )
    with pytest.raises(ConcurrencyError):
        await once.record_many(db, [good[0], bad, good[1]])
    assert await _counts(db, tables, "once.many") == before  # no claim, event or outbox row
    assert await _read(db, tables, "stream-good-1") == []
    results = await once.record_many(db, good)
    assert [None if r is None else [p.message for p in r] for r in results] == [
        [message(1)],
        [message(2)],
    ]
    assert await _counts(db, tables, "once.many") == (
        before[0] + 2,
        before[1] + 2,
        before[2] + 2,
    )


async def test_record_many_with_records_without_events_or_messages(
    store_db: tuple[Database, StoreTables],
) -> None:
    db, tables = store_db
    once = OnceRecorder(tables)
    results = await once.record_many(
        db,
        [
            _record("m-nothing", "stream-nothing"),
            _record("m-events", "stream-events", events=[event(1), event(2)]),
            _record("m-messages", "stream-messages", messages=[message(1), message(2)]),
        ],
    )
    assert results[0] == []
    assert results[1] == []
    assert results[2] is not None
    assert [p.message for p in results[2]] == [message(1), message(2)]
    assert await _outbox_rows(db, tables) == {
        p.row_id: (p.message.msg_id, p.message.body) for p in results[2]
    }
    assert [e.version for e in await _read(db, tables, "stream-events")] == [1, 2]
    assert await _read(db, tables, "stream-messages") == []
    assert await _counts(db, tables, "once.many") == (3, 2, 2)
    assert await once.record_many(db, [_record("m-nothing", "stream-nothing")]) == [None]
