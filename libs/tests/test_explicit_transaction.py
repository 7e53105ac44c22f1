"""Database.explicit_transaction against real Postgres: BEGIN queued with the first statements
and COMMIT with the last make one transaction of two round trips; anything else rolls back."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from llmctl_libs.store import Database, Outbox, OutboxMessage, StoreTables
from llmctl_libs.store.database import BEGIN, COMMIT, ExplicitTransactionError
from llmctl_libs.store.driver import driver_connection

_TABLE = "plumbing.explicit_t"  # in the schema of the store_db fixture


@pytest.fixture
async def db(store_db: tuple[Database, StoreTables]) -> Database:
    database, _ = store_db
    async with database.autocommit() as conn:
        await conn.execute(sa.text(f"CREATE TABLE {_TABLE} (n int PRIMARY KEY)"))
    return database


async def _count(db: Database) -> int:
    async with db.autocommit() as conn:
        return int((await conn.execute(sa.text(f"SELECT count(*) FROM {_TABLE}"))).scalar_one())


async def _one(driver: psycopg.AsyncConnection[Any], query: str) -> Any:
    row = await (await driver.execute(query)).fetchone()
    assert row is not None
    return row[0]


async def test_begin_and_commit_travel_with_the_statements(db: Database) -> None:
    async with db.explicit_transaction() as conn:
        driver = await driver_connection(conn)
        async with driver.pipeline():
            await driver.execute(BEGIN, prepare=False)
            first = await driver.execute(
                f"INSERT INTO {_TABLE} VALUES (1) RETURNING txid_current()"
            )
            (first_txid,) = await first.fetchall()  # the pipeline's one sync so far
        # a SQLAlchemy Core statement in between runs inside the same transaction
        core = await conn.execute(
            sa.text(f"INSERT INTO {_TABLE} VALUES (2) RETURNING txid_current()")
        )
        assert core.scalar_one() == first_txid[0]
        assert await _count(db) == 0  # not committed yet: another connection sees nothing
        async with driver.pipeline():
            last = await driver.execute(f"INSERT INTO {_TABLE} VALUES (3) RETURNING txid_current()")
            await driver.execute(COMMIT, prepare=False)
        assert (await last.fetchall()) == [first_txid]  # read after the pipeline synced
    assert await _count(db) == 3
    # the connection went back to the pool fit for ordinary transactions
    with pytest.raises(sa.exc.IntegrityError):
        async with db.transaction() as conn:
            await conn.execute(sa.text(f"INSERT INTO {_TABLE} VALUES (4)"))
            await conn.execute(sa.text(f"INSERT INTO {_TABLE} VALUES (1)"))
    assert await _count(db) == 3


async def test_a_block_that_raises_is_rolled_back(db: Database) -> None:
    with pytest.raises(LookupError):
        async with db.explicit_transaction() as conn:
            driver = await driver_connection(conn)
            async with driver.pipeline():
                await driver.execute(BEGIN, prepare=False)
                await driver.execute(f"INSERT INTO {_TABLE} VALUES (1)")
            raise LookupError("the step failed")
    assert await _count(db) == 0
    async with db.autocommit() as conn:  # nothing left open on a pooled connection
        driver = await driver_connection(conn)
        assert driver.pgconn.transaction_status == psycopg.pq.TransactionStatus.IDLE
        assert (
            await _one(driver, "SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in%'")
            == 0
        )


async def test_a_failed_statement_keeps_the_queued_commit_from_running(db: Database) -> None:
    with pytest.raises(psycopg.errors.UniqueViolation):
        async with db.explicit_transaction() as conn:
            driver = await driver_connection(conn)
            async with driver.pipeline():
                await driver.execute(BEGIN, prepare=False)
                await driver.execute(f"INSERT INTO {_TABLE} VALUES (1)")
                await driver.execute(f"INSERT INTO {_TABLE} VALUES (1)")
                await driver.execute(COMMIT, prepare=False)
    assert await _count(db) == 0


async def test_a_block_that_forgets_the_commit_is_an_error_and_rolled_back(db: Database) -> None:
    with pytest.raises(ExplicitTransactionError, match="without a COMMIT"):
        async with db.explicit_transaction() as conn:
            driver = await driver_connection(conn)
            async with driver.pipeline():
                await driver.execute(BEGIN, prepare=False)
                await driver.execute(f"INSERT INTO {_TABLE} VALUES (1)")
    assert await _count(db) == 0


async def test_outbox_rows_are_read_after_the_commit_queued_behind_them(
    store_db: tuple[Database, StoreTables],
) -> None:
    db, tables = store_db
    outbox = Outbox(tables)
    messages = [
        OutboxMessage(subject="llmctl.evt.test.explicit", msg_id=f"m-{n}", body=b"%d" % n)
        for n in range(3)
    ]
    async with db.explicit_transaction() as conn:
        driver = await driver_connection(conn)
        async with driver.pipeline():
            await driver.execute(BEGIN, prepare=False)
            insert = await outbox.insert(conn, messages)
            await driver.execute(COMMIT, prepare=False)
        pending = await insert.written()
    assert [p.message for p in pending] == messages
    assert [p.row_id for p in pending] == sorted(p.row_id for p in pending)
    async with db.autocommit() as conn:
        stored = (await conn.execute(sa.select(tables.outbox.c.id, tables.outbox.c.msg_id))).all()
        assert await (await outbox.insert(conn, [])).written() == []  # nothing sent
    assert sorted(stored) == [(p.row_id, p.message.msg_id) for p in pending]
