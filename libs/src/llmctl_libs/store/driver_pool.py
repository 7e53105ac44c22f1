"""A small pool of plain psycopg connections in autocommit mode, for hot single statements.

Checking a connection out of SQLAlchemy's async engine and back costs a few greenlet switches
(each with a fresh 16 KB Python frame stack that is mapped and unmapped) and the pool's
bookkeeping: about 120-160 us of CPU per use on the project machine, against 80 us for the
statement itself (``SELECT 1``). A consumer whose whole effect is one fixed statement (the
router's decisions, :class:`~llmctl_libs.store.once.OnceRecorder`) takes its connection from
here instead. Everything else keeps using the engine.

The pool hands out the connection returned last (LIFO), so the hot path keeps its prepared
statements warm. No pre-ping: a connection that died with the server fails its statement (the
caller's message is redelivered) and is dropped when it comes back.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg.pq import TransactionStatus

__all__ = ["DriverPool", "libpq_url"]


def libpq_url(url: str) -> str:
    """The libpq connection URL of a SQLAlchemy ``postgresql+psycopg://`` URL."""
    return sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class DriverPool:
    """Up to ``max_size`` autocommit psycopg connections, opened on demand.

    Args:
        url: SQLAlchemy or libpq URL of the database.
        max_size: Connections open at most; a caller beyond that waits for one to come back.
        connect_kwargs: Passed to :meth:`psycopg.AsyncConnection.connect`.
    """

    def __init__(self, url: str, *, max_size: int, **connect_kwargs: Any) -> None:
        if max_size < 1:
            raise ValueError(f"max_size must be at least 1, got {max_size}")
        self._url = libpq_url(url)
        self._max_size = max_size
        self._connect_kwargs = connect_kwargs
        self._idle: list[psycopg.AsyncConnection[Any]] = []
        self._open = 0
        """Connections open or being opened, idle or in use."""
        self._waiters: list[asyncio.Future[None]] = []
        self._closed = False

    @property
    def size(self) -> int:
        """Connections open (idle or in use)."""
        return self._open

    @property
    def idle(self) -> int:
        """Connections waiting in the pool."""
        return len(self._idle)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A connection for the duration of the block (autocommit: each statement commits
        on its own, or use ``conn.transaction()``)."""
        conn = await self._acquire()
        try:
            yield conn
        finally:
            await self._release(conn)

    async def _acquire(self) -> psycopg.AsyncConnection[Any]:
        # No lock: nothing below awaits between looking at the pool and taking from it.
        while True:
            if self._closed:
                raise RuntimeError("the connection pool is closed")
            if self._idle:
                return self._idle.pop()
            if self._open < self._max_size:
                self._open += 1
                break
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self._wake()  # woken, but leaving: pass the turn on
                else:
                    self._waiters.remove(waiter)
                raise
        try:
            return await psycopg.AsyncConnection.connect(
                self._url, autocommit=True, **self._connect_kwargs
            )
        except BaseException:
            self._open -= 1
            self._wake()
            raise

    def _wake(self) -> None:
        """Let the longest-waiting caller look at the pool again."""
        while self._waiters:
            waiter = self._waiters.pop(0)
            if not waiter.done():
                waiter.set_result(None)
                return

    async def _release(self, conn: psycopg.AsyncConnection[Any]) -> None:
        usable = (
            not self._closed
            and not conn.closed
            and not conn.broken
            and conn.info.transaction_status == TransactionStatus.IDLE
        )
        if usable:
            self._idle.append(conn)
        else:
            self._open -= 1
        self._wake()
        if not usable:
            await conn.close()

    async def close(self) -> None:
        """Close the idle connections; those in use are closed as they come back."""
        self._closed = True
        idle, self._idle = self._idle, []
        self._open -= len(idle)
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()
        for conn in idle:
            await conn.close()
