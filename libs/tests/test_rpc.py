"""Typed request/reply over real NATS: errors in the envelope, restarts ridden out."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from llmctl_contracts import ErrorCode
from llmctl_libs.bus import Bus
from llmctl_libs.ids import new_id
from llmctl_libs.rpc import RpcError, call, endpoint


class Ping(msgspec.Struct, frozen=True):
    n: int


async def _responder(nats_url: str, subject: str) -> Bus:
    async def double(ping: Ping) -> int:
        return ping.n * 2

    bus = Bus(nats_url, service=f"responder-{new_id()}")
    endpoint(bus, subject, Ping, double)
    await bus.start()
    return bus


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
