"""Async engine wrapper for one service schema."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg.pq import TransactionStatus
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from .driver import driver_connection
from .driver_pool import DriverPool

__all__ = ["BEGIN", "COMMIT", "Database", "ExplicitTransactionError"]

logger = logging.getLogger(__name__)

BEGIN = "BEGIN"
"""Opens an explicit transaction: queue it in a driver pipeline ahead of the first statement
(``await driver.execute(BEGIN, prepare=False)``), see :meth:`Database.explicit_transaction`."""
COMMIT = "COMMIT"
"""Commits an explicit transaction: queue it in a driver pipeline behind the last statement."""


class ExplicitTransactionError(RuntimeError):
    """An explicit transaction block ended without committing (it was rolled back)."""


class Database:
    """A service's database handle (an async SQLAlchemy engine on psycopg 3).

    No pre-ping on checkout (it costs a round trip per transaction): a connection that died
    with the server fails its transaction, the message is redelivered and the retry gets a
    fresh connection.

    The pool hands out the connection returned last (LIFO): at a steady load the hot path
    keeps using the same few connections, whose server-side prepared statements (psycopg
    prepares a statement on its fifth use on a connection) and backend caches stay warm,
    instead of cycling through every pooled connection.

    Args:
        url: SQLAlchemy URL, ``postgresql+psycopg://...``.
        pool_size: Connections kept open.
    """

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self._pool_size = pool_size
        self._driver_pool: DriverPool | None = None
        self.engine: AsyncEngine = create_async_engine(
            url,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_recycle=1800,
            pool_use_lifo=True,
        )
        self._unsynced: AsyncEngine | None = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A connection inside one transaction: committed on exit, rolled back on error."""
        async with self.engine.begin() as conn:
            yield conn

    @asynccontextmanager
    async def explicit_transaction(self) -> AsyncIterator[AsyncConnection]:
        """A pooled connection on which the caller writes one transaction with explicit
        :data:`BEGIN` and :data:`COMMIT` statements, each queued in a driver pipeline with the
        first and the last statements, so that neither costs a round trip of its own.

        A SQLAlchemy transaction (:meth:`transaction`) costs three more round trips than its
        statements: psycopg sends BEGIN alone before the first statement and COMMIT alone at
        the end, and a pipeline whose results are read before the end syncs once more. A
        round trip costs the service and the Postgres backend about 0.1 ms of CPU each on a
        small machine, and the orchestrator's step pays them on every node execution.

        The connection is in autocommit mode, so psycopg starts no transaction of its own;
        the server is inside the caller's from its BEGIN on, and every statement in between,
        SQLAlchemy Core included, runs in it. If the block raises, an open transaction is
        rolled back; if it ends with the transaction still open (no COMMIT queued), that is
        rolled back and :class:`ExplicitTransactionError` raised.
        """
        async with self.autocommit() as conn:
            driver = await driver_connection(conn)
            try:
                yield conn
            except BaseException:
                await _roll_back(driver)
                raise
            if driver.pgconn.transaction_status != TransactionStatus.IDLE:
                await _roll_back(driver)
                raise ExplicitTransactionError("the transaction ended without a COMMIT")

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[AsyncConnection]:
        """A pooled connection in autocommit mode: each statement stands alone (a read sees
        what is committed when it starts, as in a read-committed transaction). For reads and
        single-statement writes.

        No BEGIN and, above all, no ROLLBACK when the connection goes back to the pool:
        psycopg deallocates every prepared statement of a connection whose transaction is
        rolled back, so a read in a transaction would cost the next few steps on that
        connection their prepared statements.
        """
        async with self.engine.connect() as conn:
            yield await conn.execution_options(isolation_level="AUTOCOMMIT")

    @asynccontextmanager
    async def driver_autocommit(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A plain psycopg connection in autocommit mode, outside SQLAlchemy (its own pool of
        up to ``pool_size`` connections, see :mod:`~llmctl_libs.store.driver_pool`): for a
        hot path whose whole work is fixed SQL, such as a one-statement consumer."""
        if self._driver_pool is None:
            self._driver_pool = DriverPool(self.url, max_size=self._pool_size)
        async with self._driver_pool.connection() as conn:
            yield conn

    @asynccontextmanager
    async def unsynced(self) -> AsyncIterator[AsyncConnection]:
        """A connection in autocommit mode whose commits do not wait for the WAL flush
        (``synchronous_commit = off``): each statement is one round trip. Only for writes a
        crash may lose harmlessly (e.g. marking outbox rows published)."""
        if self._unsynced is None:
            self._unsynced = create_async_engine(
                self.url,
                pool_size=1,
                max_overflow=1,
                pool_recycle=1800,
                isolation_level="AUTOCOMMIT",
                connect_args={"options": "-c synchronous_commit=off"},
            )
        async with self._unsynced.connect() as conn:
            yield conn

    async def ping(self) -> bool:
        """True when the database answers."""
        try:
            async with self.autocommit() as conn:
                await conn.execute(sa.text("SELECT 1"))
            return True
        except Exception:
            return False

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()
        if self._driver_pool is not None:
            await self._driver_pool.close()
            self._driver_pool = None
        if self._unsynced is not None:
            await self._unsynced.dispose()
            self._unsynced = None


async def _roll_back(driver: psycopg.AsyncConnection[Any]) -> None:
    """Roll back the driver's open transaction, if any. A connection that cannot roll back is
    broken: SQLAlchemy's rollback on check-in fails too and discards it."""
    if driver.closed or driver.pgconn.transaction_status == TransactionStatus.IDLE:
        return
    try:
        await driver.rollback()
    except psycopg.Error as exc:
        logger.warning("rolling back an explicit transaction failed: %s", exc)
