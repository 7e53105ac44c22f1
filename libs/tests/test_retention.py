"""Retention against real Postgres: expired bookkeeping rows go in batches, the rest stays."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from llmctl_libs.store import Database, RetentionSweeper, store_tables
from llmctl_libs.store.idempotency import idempotency_table
from llmctl_libs.store.retention import (
    idempotency_retention,
    inbox_retention,
    outbox_retention,
    sweep_interval_from_env,
    tool_results_retention,
)
from llmctl_libs.testing.database import database_with
from llmctl_libs.tools import tool_call_tables

SCHEMA = "kept"
metadata = sa.MetaData(schema=SCHEMA)
store = store_tables(SCHEMA, metadata)
idempotency = idempotency_table(metadata)
tools = tool_call_tables(metadata)
NOW = datetime.now(UTC)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    async with database_with(database_url, metadata) as database:
        yield database


async def fill(db: Database) -> None:
    """Outbox rows: 5 published 2 days ago, 1 published an hour ago, 1 unpublished from a week
    ago. Idempotency rows: 3 from 8 days ago, 1 from today. Tool results: 1 of 31 days, 1 new."""
    async with db.transaction() as conn:
        outbox = store.outbox
        for i in range(5):
            await conn.execute(
                sa.insert(outbox).values(
                    subject="s", msg_id=f"old-{i}", body=b"x", published_at=NOW - timedelta(days=2)
                )
            )
        await conn.execute(
            sa.insert(outbox).values(
                subject="s", msg_id="recent", body=b"x", published_at=NOW - timedelta(hours=1)
            )
        )
        await conn.execute(
            sa.insert(outbox).values(
                subject="s", msg_id="pending", body=b"x", created_at=NOW - timedelta(days=7)
            )
        )
        for i in range(3):
            await conn.execute(
                sa.insert(idempotency).values(
                    scope="s", key=f"old-{i}", fingerprint="f", created_at=NOW - timedelta(days=8)
                )
            )
        await conn.execute(sa.insert(idempotency).values(scope="s", key="new", fingerprint="f"))
        await conn.execute(
            sa.insert(tools.results).values(
                idempotency_key="nr:1:0", fingerprint="f", created_at=NOW - timedelta(days=31)
            )
        )
        await conn.execute(
            sa.insert(tools.results).values(idempotency_key="nr:2:0", fingerprint="f")
        )


async def remaining(db: Database, table: sa.Table, column: str) -> list[str]:
    async with db.transaction() as conn:
        rows = await conn.execute(sa.select(table.c[column]).order_by(table.c[column]))
        return [r[0] for r in rows]


async def test_expired_rows_go_in_batches_and_the_rest_stays(db: Database) -> None:
    await fill(db)
    sweeper = RetentionSweeper(
        db,
        [
            outbox_retention(store.outbox),
            idempotency_retention(idempotency),
            tool_results_retention(tools.results),
        ],
        batch=2,
        environ={},
    )
    assert await sweeper.sweep() == {
        "published outbox rows": 5,
        "idempotent requests": 3,
        "replayable tool results": 1,
    }
    assert await remaining(db, store.outbox, "msg_id") == ["pending", "recent"]
    assert await remaining(db, idempotency, "key") == ["new"]
    assert await remaining(db, tools.results, "idempotency_key") == ["nr:2:0"]
    assert set((await sweeper.sweep()).values()) == {0}  # nothing more to do


async def test_retention_comes_from_the_environment(db: Database) -> None:
    await fill(db)
    sweeper = RetentionSweeper(
        db,
        [outbox_retention(store.outbox), idempotency_retention(idempotency)],
        environ={
            "LLMCTL_RETENTION_OUTBOX_HOURS": "0.5",
            "LLMCTL_RETENTION_IDEMPOTENCY_HOURS": "240",
        },
    )
    assert await sweeper.sweep() == {"published outbox rows": 6, "idempotent requests": 0}
    assert await remaining(db, store.outbox, "msg_id") == ["pending"]  # never published: kept


@pytest.mark.parametrize("raw", ["0", "-1", "soon", "nan"])
def test_a_bad_retention_stops_the_service_naming_the_variable(raw: str) -> None:
    rule = idempotency_retention(idempotency)
    with pytest.raises(SystemExit, match="LLMCTL_RETENTION_IDEMPOTENCY_HOURS must be a number"):
        rule.keep({rule.env: raw})


def test_sweep_interval() -> None:
    assert sweep_interval_from_env({}) == 3600
    assert sweep_interval_from_env({"LLMCTL_RETENTION_INTERVAL_SECONDS": "0"}) == 0
    with pytest.raises(SystemExit, match="LLMCTL_RETENTION_INTERVAL_SECONDS must be a number"):
        sweep_interval_from_env({"LLMCTL_RETENTION_INTERVAL_SECONDS": "-5"})


async def test_a_disabled_sweeper_does_not_start(db: Database) -> None:
    await fill(db)
    sweeper = RetentionSweeper(db, [idempotency_retention(idempotency)], interval_seconds=0)
    await sweeper.start()
    await sweeper.stop()
    assert len(await remaining(db, idempotency, "key")) == 4


async def test_a_started_sweeper_sweeps_at_once_and_stops(db: Database) -> None:
    await fill(db)
    sweeper = RetentionSweeper(db, [idempotency_retention(idempotency)], environ={})
    await sweeper.start()
    try:
        async with asyncio.timeout(30):
            while len(await remaining(db, idempotency, "key")) > 1:
                await asyncio.sleep(0.05)
    finally:
        await sweeper.stop()
    assert await remaining(db, idempotency, "key") == ["new"]


async def test_inbox_rows_go_after_their_retention(db: Database) -> None:
    """Inbox rows stay 14 days by default; the setting may shorten that down to the 7 days the
    streams keep a message, and not below."""
    async with db.transaction() as conn:
        for message_id, age in (("old", 15), ("eight-days", 8), ("new", 0)):
            await conn.execute(
                sa.insert(store.inbox).values(
                    consumer="c", message_id=message_id, processed_at=NOW - timedelta(days=age)
                )
            )
    default = RetentionSweeper(db, [inbox_retention(store.inbox)], environ={})
    assert await default.sweep() == {"inbox rows": 1}
    assert await remaining(db, store.inbox, "message_id") == ["eight-days", "new"]
    shorter = RetentionSweeper(
        db, [inbox_retention(store.inbox)], environ={"LLMCTL_RETENTION_INBOX_HOURS": "168"}
    )
    assert await shorter.sweep() == {"inbox rows": 1}
    assert await remaining(db, store.inbox, "message_id") == ["new"]


@pytest.mark.parametrize("raw", ["167.9", "24", "1"])
def test_an_inbox_retention_below_the_streams_age_stops_the_service(raw: str) -> None:
    rule = inbox_retention(store.inbox)
    with pytest.raises(SystemExit, match="LLMCTL_RETENTION_INBOX_HOURS must be at least 168 hours"):
        rule.keep({rule.env: raw})
