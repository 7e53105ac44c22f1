"""Typed request/reply over real NATS: errors in the envelope, restarts ridden out."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec
import pytest
import sqlalchemy as sa

from llmctl_contracts import ErrorCode
from llmctl_libs.bus import Bus
from llmctl_libs.ids import new_id
from llmctl_libs.rpc import ENVELOPE_HEADROOM, RpcError, call, endpoint, request_limit
from llmctl_libs.store import Database

Req = TypeVar("Req")


class Ping(msgspec.Struct, frozen=True):
    n: int


async def _serve(
    nats_url: str, subject: str, request_type: type[Req], func: Callable[[Req], Awaitable[Any]]
) -> Bus:
    """A started bus of its own serving ``func`` on ``subject``."""
    bus = Bus(nats_url, service=f"responder-{new_id()}")
    endpoint(bus, subject, request_type, func)
    await bus.start()
    return bus


async def _responder(nats_url: str, subject: str) -> Bus:
    async def double(ping: Ping) -> int:
        return ping.n * 2

    return await _serve(nats_url, subject, Ping, double)


async def test_call_returns_typed_result_and_bad_requests_get_envelope_errors(
    nats_url: str,
) -> None:
    subject = f"llmctl.rpc.test.{new_id()}"
    responder = await _responder(nats_url, subject)
    caller = Bus(nats_url, service="caller")
    await caller.start()
    try:
        assert await call(caller, subject, Ping(n=21), int) == 42
        with pytest.raises(RpcError) as info:
            await call(caller, subject, {"n": "not a number"}, int)
        assert info.value.body.code is ErrorCode.VALIDATION_FAILED
        assert info.value.body.details[0].field == "$.n"
    finally:
        await caller.stop()
        await responder.stop()


async def test_no_responders_is_retried_while_a_service_comes_up(nats_url: str) -> None:
    subject = f"llmctl.rpc.test.{new_id()}"
    caller = Bus(nats_url, service="caller")
    await caller.start()
    try:
        pending = asyncio.create_task(call(caller, subject, Ping(n=1), int, timeout=5.0))
        responder = await _responder(nats_url, subject)  # starts while the call is retrying
        assert await pending == 2
        await responder.stop()
        with pytest.raises(RpcError) as info:  # nobody there at all: unavailable, not a hang
            await call(caller, subject, Ping(n=1), int, timeout=5.0)
        assert info.value.body.code is ErrorCode.UNAVAILABLE
    finally:
        await caller.stop()


async def test_a_lost_database_connection_is_answered_unavailable_and_a_retry_succeeds(
    nats_url: str, database_url: str
) -> None:
    """Postgres drops the pooled connection under a read (as in a restart): the caller gets
    ``unavailable`` (a 503 at the gateway, which clients retry), not ``internal``, and the
    retry runs on a fresh connection."""
    database = Database(database_url, pool_size=1)
    subject = f"llmctl.rpc.test.{new_id()}"

    async def backend_pid(_: Ping) -> int:
        async with database.autocommit() as conn:
            return int((await conn.execute(sa.text("SELECT pg_backend_pid()"))).scalar_one())

    responder = await _serve(nats_url, subject, Ping, backend_pid)
    caller = Bus(nats_url, service="caller")
    await caller.start()
    try:
        first = await call(caller, subject, Ping(n=1), int)
        async with database.autocommit() as admin:  # the pool of one hands the same backend
            assert (
                int((await admin.execute(sa.text("SELECT pg_backend_pid()"))).scalar_one()) == first
            )
        killer = Database(database_url, pool_size=1)
        try:
            async with killer.autocommit() as conn:
                await conn.execute(sa.text(f"SELECT pg_terminate_backend({first})"))
        finally:
            await killer.dispose()
        with pytest.raises(RpcError) as info:
            await call(caller, subject, Ping(n=2), int)
        assert info.value.body.code is ErrorCode.UNAVAILABLE
        assert "database" in info.value.body.message
        assert await call(caller, subject, Ping(n=3), int) != first
    finally:
        await caller.stop()
        await responder.stop()
        await database.dispose()


class Blob(msgspec.Struct, frozen=True):
    text: str


async def test_requests_and_answers_larger_than_the_bus_carries_fail_too_large(
    nats_url: str,
) -> None:
    """A request over the limit is refused before it is sent, naming ``body``; an answer
    over it is replaced by a ``too_large`` error (not left for the caller to time out on);
    both just under their limits go through."""
    subject = f"llmctl.rpc.test.{new_id()}"
    seen: list[int] = []

    async def echo_times(blob: Blob) -> str:
        seen.append(len(blob.text))
        return blob.text * (2 if blob.text.startswith("double") else 1)

    responder = await _serve(nats_url, subject, Blob, echo_times)
    caller = Bus(nats_url, service="caller")
    await caller.start()
    try:
        limit = request_limit(caller)
        assert limit == caller.max_payload - ENVELOPE_HEADROOM
        fits = "f" * (limit - len(b'{"text":""}'))
        assert await call(caller, subject, Blob(text=fits), str, timeout=10.0) == fits

        with pytest.raises(RpcError) as info:
            await call(caller, subject, Blob(text=fits + "x"), str, timeout=10.0)
        body = info.value.body
        assert body.code is ErrorCode.TOO_LARGE
        assert body.details[0].field == "body"
        assert f"{limit + 1:,} bytes" in body.details[0].reason
        assert seen == [len(fits)]  # the refused request never reached the service

        half = "double" + "d" * (caller.max_payload // 2)
        with pytest.raises(RpcError) as info:
            await call(caller, subject, Blob(text=half), str, timeout=10.0)
        assert info.value.body.code is ErrorCode.TOO_LARGE
        assert "ask for less" in info.value.body.message
        assert await call(caller, subject, Blob(text="double"), str) == "doubledouble"
    finally:
        await caller.stop()
        await responder.stop()
