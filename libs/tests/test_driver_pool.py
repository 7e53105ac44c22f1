"""DriverPool against real Postgres: connections are reused last-in first-out, capped, handed
to waiters in turn, and dropped when they come back unusable."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest

from llmctl_libs.store import Database
from llmctl_libs.store.driver_pool import DriverPool, libpq_url


def test_the_libpq_url_drops_the_sqlalchemy_driver_name() -> None:
    url = "postgresql+psycopg://user:secret@db.example:5433/llmctl?sslmode=require"
    assert libpq_url(url) == "postgresql://user:secret@db.example:5433/llmctl?sslmode=require"


def test_a_pool_needs_room_for_one_connection() -> None:
    with pytest.raises(ValueError, match="max_size"):
        DriverPool("postgresql://localhost/x", max_size=0)


async def _backend_pid(conn: psycopg.AsyncConnection[Any]) -> int:
    row = await (await conn.execute("SELECT pg_backend_pid()")).fetchone()
    assert row is not None
    return int(row[0])


async def test_connections_are_autocommit_and_reused_last_in_first_out(database_url: str) -> None:
    pool = DriverPool(database_url, max_size=3)
    try:
        async with pool.connection() as first, pool.connection() as second:
            assert first.autocommit
            first_pid, second_pid = await _backend_pid(first), await _backend_pid(second)
            assert first_pid != second_pid
        assert (pool.size, pool.idle) == (2, 2)
        # the connection returned last (first, which left its block after second) comes out
        async with pool.connection() as again:
            assert await _backend_pid(again) == first_pid
        async with pool.connection() as conn:
            await conn.execute("CREATE TABLE t (n int)")
            await conn.execute("INSERT INTO t VALUES (1)")  # committed at once: autocommit
        async with pool.connection() as other, pool.connection() as reader:
            assert other is not reader
            row = await (await reader.execute("SELECT count(*) FROM t")).fetchone()
            assert row == (1,)
    finally:
        await pool.close()


async def test_a_caller_beyond_the_cap_waits_for_a_connection_to_come_back(
    database_url: str,
) -> None:
    pool = DriverPool(database_url, max_size=1)
    try:
        order: list[str] = []
        holding = asyncio.Event()
        release = asyncio.Event()

        async def holder() -> None:
            async with pool.connection():
                order.append("holder in")
                holding.set()
                await release.wait()
            order.append("holder out")

        async def waiter(name: str) -> None:
            async with pool.connection() as conn:
                order.append(f"{name} in")
                await conn.execute("SELECT 1")

        held = asyncio.create_task(holder())
        await holding.wait()
        waiters = [asyncio.create_task(waiter(n)) for n in ("a", "b")]
        await asyncio.sleep(0)  # the waiters reach the pool and queue
        assert order == ["holder in"]
        release.set()
        await asyncio.gather(held, *waiters)
        assert order == ["holder in", "holder out", "a in", "b in"]
        assert pool.size == 1
    finally:
        await pool.close()


async def test_a_cancelled_waiter_does_not_hold_back_the_next(database_url: str) -> None:
    pool = DriverPool(database_url, max_size=1)
    try:
        release = asyncio.Event()
        holding = asyncio.Event()

        async def holder() -> None:
            async with pool.connection():
                holding.set()
                await release.wait()

        async def waiter() -> int:
            async with pool.connection() as conn:
                return await _backend_pid(conn)

        held = asyncio.create_task(holder())
        await holding.wait()
        cancelled, served = asyncio.create_task(waiter()), asyncio.create_task(waiter())
        await asyncio.sleep(0)
        cancelled.cancel()
        release.set()
        await held
        assert await asyncio.wait_for(served, 10) > 0
        assert cancelled.cancelled()
    finally:
        await pool.close()


async def test_a_broken_or_mid_transaction_connection_is_dropped(database_url: str) -> None:
    pool = DriverPool(database_url, max_size=1)
    try:
        async with pool.connection() as conn:
            victim = await _backend_pid(conn)
        async with await psycopg.AsyncConnection.connect(
            libpq_url(database_url), autocommit=True
        ) as admin:
            await admin.execute("SELECT pg_terminate_backend(%s)", [victim])
        # the dead connection comes out (no pre-ping), fails its statement and is not kept
        with pytest.raises(psycopg.OperationalError):
            async with pool.connection() as conn:
                await conn.execute("SELECT 1")
        assert (pool.size, pool.idle) == (0, 0)
        async with pool.connection() as conn:
            fresh = await _backend_pid(conn)
        assert fresh != victim

        async with pool.connection() as conn:
            await conn.execute("BEGIN")  # left open: closed (rolled back), not reused
        assert conn.closed
        assert (pool.size, pool.idle) == (0, 0)
        async with pool.connection() as conn:
            assert await _backend_pid(conn) != fresh
    finally:
        await pool.close()


async def test_a_closed_pool_refuses_and_closes_what_comes_back(database_url: str) -> None:
    pool = DriverPool(database_url, max_size=2)
    async with pool.connection() as kept:
        async with pool.connection():
            pass
        await pool.close()
        assert pool.idle == 0
    assert kept.closed
    assert pool.size == 0
    with pytest.raises(RuntimeError, match="closed"):
        async with pool.connection():
            pass


async def test_the_database_hands_out_driver_connections_and_closes_them(
    database_url: str,
) -> None:
    db = Database(database_url, pool_size=2)
    async with db.driver_autocommit() as conn:
        row = await (await conn.execute("SELECT 41 + 1")).fetchone()
        assert row == (42,)
    await db.dispose()
    assert conn.closed
