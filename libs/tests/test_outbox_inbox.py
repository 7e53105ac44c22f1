"""Outbox and inbox against real Postgres and JetStream: nothing lost, nothing twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import sqlalchemy as sa

from llmctl_libs.bus import Bus
from llmctl_libs.store import Database, Inbox, Outbox, OutboxMessage, OutboxRelay, StoreTables
from llmctl_libs.store.outbox import HEADER_ROOM, MARK_DELAY_SECONDS


@pytest.fixture
async def bus(private_nats_server: object) -> AsyncIterator[Bus]:
    running = Bus(private_nats_server.url, service="plumbing-test")  # type: ignore[attr-defined]
    await running.start()
    yield running
    await running.stop()


async def stream_messages(bus: Bus, subject: str) -> int:
    info = await bus.js.stream_info("LLMCTL_EVT", subjects_filter=subject)
    return sum((info.state.subjects or {}).values())


def message(n: int, subject: str = "llmctl.evt.test.outbox") -> OutboxMessage:
    return OutboxMessage(subject=subject, msg_id=f"m-{n}", body=b"%d" % n)


@asynccontextmanager
async def running_relay(
    db: Database,
    tables: StoreTables,
    bus: Bus,
    *,
    poll_seconds: float = 30.0,
    mark_delay_seconds: float = MARK_DELAY_SECONDS,
) -> AsyncIterator[tuple[Outbox, OutboxRelay]]:
    """A started relay (by default its poller cannot help: 30 s), stopped on exit."""
    outbox = Outbox(tables)
    relay = OutboxRelay(
        db, outbox, bus, poll_seconds=poll_seconds, mark_delay_seconds=mark_delay_seconds
    )
    await relay.start()
    try:
        yield outbox, relay
    finally:
        await relay.stop()


async def test_inbox_claims_once_and_rollback_forgets(
    store_db: tuple[Database, StoreTables],
) -> None:
    db, tables = store_db
    inbox = Inbox(tables)
    async with db.transaction() as conn:
        assert await inbox.claim(conn, "c", "m1")
        assert not await inbox.claim(conn, "c", "m1")
        assert await inbox.claim(conn, "other", "m1")
    with pytest.raises(RuntimeError):
        async with db.transaction() as conn:
            assert await inbox.claim(conn, "c", "m2")
            raise RuntimeError("effects failed")
    async with db.transaction() as conn:
        assert await inbox.claim(conn, "c", "m2")  # the rolled-back claim left no trace
        assert await inbox.seen(conn, "c", "m1")


async def test_committed_rows_are_published_once_rolled_back_never(
    store_db: tuple[Database, StoreTables], bus: Bus
) -> None:
    db, tables = store_db
    async with running_relay(db, tables, bus, poll_seconds=0.2) as (outbox, relay):
        with pytest.raises(RuntimeError):
            async with db.transaction() as conn:
                await outbox.add(conn, [message(0)])
                raise RuntimeError("rolled back")
        async with db.transaction() as conn:
            pending = await outbox.add(conn, [message(1), message(2)])
        relay.enqueue(pending)
        async with asyncio.timeout(10):
            while await _unpublished(db, tables) > 0:
                await asyncio.sleep(0.02)
        assert await stream_messages(bus, "llmctl.evt.test.outbox") == 2


async def test_rows_never_handed_over_are_recovered_and_republish_is_deduplicated(
    store_db: tuple[Database, StoreTables], bus: Bus
) -> None:
    db, tables = store_db
    outbox = Outbox(tables)
    async with db.transaction() as conn:
        await outbox.add(conn, [message(3)])  # "crash": committed but never enqueued
    relay = OutboxRelay(db, outbox, bus, poll_seconds=0.2)
    assert await relay.relay_once() == 1
    assert await relay.relay_once() == 0
    # a crash after publishing but before marking: the same row is published again
    async with db.transaction() as conn:
        await conn.execute(sa.update(tables.outbox).values(published_at=None))
    assert await relay.relay_once() == 1
    assert await stream_messages(bus, "llmctl.evt.test.outbox") == 1  # Nats-Msg-Id dedup


async def _unpublished(db: Database, tables: StoreTables) -> int:
    async with db.transaction() as conn:
        result = await conn.execute(
            sa.select(sa.func.count())
            .select_from(tables.outbox)
            .where(tables.outbox.c.published_at.is_(None))
        )
        return int(result.scalar_one())


async def test_batches_enqueued_back_to_back_are_all_published_once_and_marked(
    store_db: tuple[Database, StoreTables], bus: Bus
) -> None:
    db, tables = store_db
    async with running_relay(db, tables, bus) as (outbox, relay):  # the poller cannot help
        for n in range(20):  # marks of earlier batches coalesce while later ones publish
            async with db.transaction() as conn:
                pending = await outbox.add(conn, [message(100 + 2 * n), message(101 + 2 * n)])
            relay.enqueue(pending)
        async with asyncio.timeout(10):
            while await _unpublished(db, tables) > 0:
                await asyncio.sleep(0.02)
        assert await stream_messages(bus, "llmctl.evt.test.outbox") == 40


async def _published_marks(db: Database, tables: StoreTables) -> set[object]:
    async with db.transaction() as conn:
        rows = await conn.execute(sa.select(tables.outbox.c.published_at).distinct())
        return {row.published_at for row in rows}


async def _publish_one(
    db: Database, outbox: Outbox, relay: OutboxRelay, bus: Bus, n: int, subject: str
) -> None:
    """Commit one row, hand it to the relay and wait until the stream has it."""
    before = await stream_messages(bus, subject)
    async with db.transaction() as conn:
        pending = await outbox.add(conn, [message(n, subject)])
    relay.enqueue(pending)
    async with asyncio.timeout(10):
        while await stream_messages(bus, subject) == before:
            await asyncio.sleep(0.01)


async def test_rows_published_within_the_mark_delay_are_marked_by_one_statement(
    store_db: tuple[Database, StoreTables], bus: Bus
) -> None:
    db, tables = store_db
    async with running_relay(db, tables, bus, mark_delay_seconds=1.0) as (outbox, relay):
        for n in (300, 301):  # two transactions, two publishes, well inside one mark delay
            await _publish_one(db, outbox, relay, bus, n, "llmctl.evt.test.marks")
        async with asyncio.timeout(10):
            while await _unpublished(db, tables) > 0:
                await asyncio.sleep(0.02)
    # one statement marked both rows: they carry its transaction's now()
    marks = await _published_marks(db, tables)
    assert len(marks) == 1
    assert None not in marks


async def test_a_stopping_relay_marks_what_it_published(
    store_db: tuple[Database, StoreTables], bus: Bus
) -> None:
    db, tables = store_db
    async with running_relay(db, tables, bus, mark_delay_seconds=30.0) as (outbox, relay):
        await _publish_one(db, outbox, relay, bus, 400, "llmctl.evt.test.stop-marks")
        assert await _unpublished(db, tables) == 1  # published, its mark still waiting
    assert await _unpublished(db, tables) == 0  # the relay's stop marked it


async def test_a_row_larger_than_the_bus_carries_holds_back_no_other(
    store_db: tuple[Database, StoreTables], bus: Bus, caplog: pytest.LogCaptureFixture
) -> None:
    """An oversized row is logged and marked without being sent, by the fast path and by the
    poller alike; the rows around it are published (before, one such row failed every batch
    the poller took, for good)."""
    db, tables = store_db
    subject = "llmctl.evt.test.outbox.big"
    huge = OutboxMessage(subject=subject, msg_id="m-huge", body=b"x" * (bus.max_payload + 1))
    fits = OutboxMessage(
        subject=subject, msg_id="m-fits", body=b"y" * (bus.max_payload - HEADER_ROOM)
    )
    outbox = Outbox(tables)
    async with db.transaction() as conn:  # committed, never handed over: the poller's case
        await outbox.add(conn, [message(10, subject), huge, message(11, subject)])
    relay = OutboxRelay(db, outbox, bus, poll_seconds=30.0)
    with caplog.at_level("ERROR", logger="llmctl_libs.store.outbox"):
        assert await relay.relay_once() == 3
        assert await relay.relay_once() == 0
    assert "m-huge" in caplog.text
    assert f"{bus.max_payload + 1} bytes" in caplog.text
    assert await stream_messages(bus, subject) == 2

    async with running_relay(db, tables, bus) as (outbox, running):
        async with db.transaction() as conn:
            pending = await outbox.add(
                conn,
                [message(12, subject), OutboxMessage(subject, "m-huge-2", huge.body), fits],
            )
        running.enqueue(pending)
        async with asyncio.timeout(10):
            while await _unpublished(db, tables) > 0:
                await asyncio.sleep(0.02)
    assert await stream_messages(bus, subject) == 4
