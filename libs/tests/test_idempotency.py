"""Idempotent requests against real Postgres: replay, mismatch, concurrent first use."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import msgspec
import pytest
import sqlalchemy as sa

from llmctl_contracts import ErrorCode
from llmctl_libs.rpc import RpcError
from llmctl_libs.store import Database
from llmctl_libs.store.idempotency import (
    NOT_SEEN,
    IdempotentRequests,
    idempotency_table,
    request_fingerprint,
)
from llmctl_libs.testing.database import database_with

SCHEMA = "idem"


class CreateThing(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    size: int = 1
    idempotency_key: str | None = None
    request_id: str | None = None


@pytest.fixture
async def requests_db(database_url: str) -> AsyncIterator[tuple[Database, IdempotentRequests]]:
    metadata = sa.MetaData(schema=SCHEMA)
    table = idempotency_table(metadata)
    async with database_with(database_url, metadata) as db:
        try:
            yield db, IdempotentRequests(table)
        finally:
            async with db.transaction() as conn:
                await conn.execute(sa.text(f"DROP SCHEMA {SCHEMA} CASCADE"))


def test_fingerprint_ignores_tracing_fields_and_key_order() -> None:
    a = CreateThing(name="x", size=2, idempotency_key="k1", request_id="r1")
    b = CreateThing(name="x", size=2, idempotency_key="k2", request_id="r2")
    assert request_fingerprint(a) == request_fingerprint(b)
    assert request_fingerprint({"a": 1, "b": 2}) == request_fingerprint({"b": 2, "a": 1})
    assert request_fingerprint(a) != request_fingerprint(CreateThing(name="x", size=3))


async def test_same_key_same_body_replays_and_other_body_is_refused(
    requests_db: tuple[Database, IdempotentRequests],
) -> None:
    db, reqs = requests_db
    fp = request_fingerprint(CreateThing(name="x"))
    async with db.transaction() as conn:
        assert await reqs.begin(conn, "thing.create", "k", fp) is NOT_SEEN
        await reqs.finish(conn, "thing.create", "k", {"id": "t1"})
    async with db.transaction() as conn:
        assert await reqs.begin(conn, "thing.create", "k", fp) == {"id": "t1"}
        # the same key in another scope is a different request
        assert await reqs.begin(conn, "thing.delete", "k", "other") is NOT_SEEN
    async with db.transaction() as conn:
        with pytest.raises(RpcError) as caught:
            await reqs.begin(conn, "thing.create", "k", request_fingerprint(CreateThing(name="y")))
    assert caught.value.body.code is ErrorCode.IDEMPOTENCY_MISMATCH
    assert caught.value.body.details[0].field == "header.Idempotency-Key"


async def test_rolled_back_operation_forgets_the_key(
    requests_db: tuple[Database, IdempotentRequests],
) -> None:
    db, reqs = requests_db
    with pytest.raises(RuntimeError):
        async with db.transaction() as conn:
            assert await reqs.begin(conn, "s", "k", "fp") is NOT_SEEN
            raise RuntimeError("the operation failed")
    async with db.transaction() as conn:
        assert await reqs.begin(conn, "s", "k", "fp") is NOT_SEEN


async def test_concurrent_first_use_runs_the_work_once(
    requests_db: tuple[Database, IdempotentRequests],
) -> None:
    db, reqs = requests_db
    first_claimed = asyncio.Event()
    release = asyncio.Event()
    work_done = 0

    async def attempt(wait: bool) -> object:
        nonlocal work_done
        async with db.transaction() as conn:
            seen = await reqs.begin(conn, "s", "k", "fp")
            if seen is not NOT_SEEN:
                return seen
            work_done += 1
            first_claimed.set()
            if wait:
                await release.wait()
            await reqs.finish(conn, "s", "k", {"n": work_done})
            return {"n": work_done}

    first = asyncio.create_task(attempt(wait=True))
    await first_claimed.wait()
    second = asyncio.create_task(attempt(wait=False))
    release.set()
    assert await first == {"n": 1}
    assert await second == {"n": 1}
    assert work_done == 1
