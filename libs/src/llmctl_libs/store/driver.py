"""The psycopg connection under a SQLAlchemy connection, for hot-path statements.

SQLAlchemy's per-statement cost (cache key, compiled-statement lookup, parameter processing,
the greenlet hop) was the largest single item in the orchestrator's profile. The few
statements every step runs (inbox claim, run lock, events, outbox, run projection) are fixed
SQL strings executed on the driver connection of the caller's transaction instead: same
connection, same transaction, and psycopg prepares them server-side after a few uses.
"""

from __future__ import annotations

from typing import Any, cast

import psycopg
from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["driver_connection"]


async def driver_connection(conn: AsyncConnection) -> psycopg.AsyncConnection[Any]:
    """The psycopg connection of ``conn`` (inside its transaction, if one is open)."""
    sync = conn.sync_connection
    if sync is not None and not sync.closed and not sync.invalidated:
        fairy = sync.connection  # checked out already: no I/O
    else:
        fairy = await conn.get_raw_connection()
    return cast("psycopg.AsyncConnection[Any]", fairy.driver_connection)
