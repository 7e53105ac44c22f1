"""Websocket relay against a real uvicorn server, nats-server and JetStream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from gateway_testkit import StubOrchestrator
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Origin

pytestmark = pytest.mark.timeout(60)


@asynccontextmanager
async def client(gateway_url: str, origin: str | None = None) -> AsyncIterator[ClientConnection]:
    url = gateway_url.replace("http://", "ws://") + "/api/v1/ws"
    async with connect(url, origin=Origin(origin) if origin else None) as ws:
        yield ws


async def recv(ws: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    frame = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    assert isinstance(frame, dict)
    return frame


async def recv_events(ws: ClientConnection, count: int) -> list[dict[str, Any]]:
    frames = [await recv(ws) for _ in range(count)]
    assert all(f["type"] == "event" for f in frames), frames
    return frames


async def assert_silent(ws: ClientConnection, seconds: float = 0.6) -> None:
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(ws.recv(), seconds)


async def subscribe(ws: ClientConnection, run_id: str, after: int = 0) -> None:
    await ws.send(json.dumps({"type": "subscribe", "run_id": run_id, "after_sequence": after}))
    assert await recv(ws) == {"type": "subscribed", "run_id": run_id, "after_sequence": after}


async def emit(stub: StubOrchestrator, run_id: str, *sequences: int) -> None:
    for seq in sequences:
        await stub.publish(stub.record_event(run_id, seq))


async def test_history_then_live_in_order(gateway_url: str, orchestrator: StubOrchestrator) -> None:
    run = orchestrator.add_run()
    await emit(orchestrator, run.id, 1, 2, 3, 4)
    async with client(gateway_url) as ws:
        await subscribe(ws, run.id)
        history = await recv_events(ws, 4)
        assert [f["sequence"] for f in history] == [1, 2, 3, 4]
        first = history[0]
        stored = orchestrator.events[run.id][1]
        assert first == {
            "type": "event",
            "event": "flowchart:node:completed",
            "event_type": "node.succeeded",
            "event_id": stored.event_id,
            "run_id": run.id,
            "sequence": 1,
            "occurred_at": stored.occurred_at,
            "correlation_id": stored.correlation_id,
            "node_run_id": "nr-1",
            "data": {"n": 1},
            "superseded": False,
            "omitted": [],
        }
        await emit(orchestrator, run.id, 5, 6)
        assert [f["sequence"] for f in await recv_events(ws, 2)] == [5, 6]
        await assert_silent(ws)
    # history was paged (page size 3 in the test settings)
    assert [r.after_sequence for r in orchestrator.event_requests][:2] == [0, 3]


async def test_duplicates_and_out_of_order_delivered_once_in_order(
    gateway_url: str, orchestrator: StubOrchestrator
) -> None:
    run = orchestrator.add_run()
    async with client(gateway_url) as ws:
        await subscribe(ws, run.id)
        e1 = orchestrator.record_event(run.id, 1)
        e2 = orchestrator.record_event(run.id, 2)
        e3 = orchestrator.record_event(run.id, 3)
        e4 = orchestrator.record_event(run.id, 4)
        e5 = orchestrator.record_event(run.id, 5)
        for envelope, msg_id in [
            (e2, None),
            (e1, None),
            (e1, None),
            (e3, "same"),
            (e3, "same"),
            (e5, None),
            (e4, None),
            (e2, None),
        ]:
            await orchestrator.publish(envelope, msg_id=msg_id)
        frames = await recv_events(ws, 5)
        assert [f["sequence"] for f in frames] == [1, 2, 3, 4, 5]
        assert [f["event_id"] for f in frames] == [e.event_id for e in (e1, e2, e3, e4, e5)]
        await assert_silent(ws)


async def test_gap_is_filled_from_history(gateway_url: str, orchestrator: StubOrchestrator) -> None:
    run = orchestrator.add_run()
    async with client(gateway_url) as ws:
        await subscribe(ws, run.id)
        orchestrator.record_event(run.id, 1)  # stored but never published live
        await orchestrator.publish(orchestrator.record_event(run.id, 2))
        assert [f["sequence"] for f in await recv_events(ws, 2)] == [1, 2]


async def test_reconnect_gets_exactly_the_missed_events(
    gateway_url: str, orchestrator: StubOrchestrator
) -> None:
    run = orchestrator.add_run()
    await emit(orchestrator, run.id, 1, 2, 3)
    async with client(gateway_url) as ws:
        await subscribe(ws, run.id)
        assert [f["sequence"] for f in await recv_events(ws, 3)] == [1, 2, 3]
    await emit(orchestrator, run.id, 4, 5)
    async with client(gateway_url) as ws:
        await subscribe(ws, run.id, after=3)
        assert [f["sequence"] for f in await recv_events(ws, 2)] == [4, 5]
        await emit(orchestrator, run.id, 6)
        assert [f["sequence"] for f in await recv_events(ws, 1)] == [6]
        await assert_silent(ws)


async def test_bad_messages_get_error_frames_and_connection_survives(
    gateway_url: str, orchestrator: StubOrchestrator
) -> None:
    run = orchestrator.add_run()
    await emit(orchestrator, run.id, 1)
    async with client(gateway_url) as ws:
        await subscribe(ws, run.id)
        assert (await recv(ws))["sequence"] == 1
        cases: list[tuple[str | bytes, str, str | None]] = [
            ("not json", "malformed", "$"),
            ('{"type": "bogus", "run_id": "x"}', "validation_failed", "$.type"),
            ('{"type": "subscribe"}', "validation_failed", "$.run_id"),
            ('{"type": "subscribe", "run_id": "a.>"}', "validation_failed", "$.run_id"),
            (
                '{"type": "subscribe", "run_id": "x", "after_sequence": -1}',
                "validation_failed",
                "$.after_sequence",
            ),
            (b"\x00\x01", "malformed", "$"),
            ("", "malformed", None),
        ]
        for message, code, field in cases:
            await ws.send(message)
            frame = await recv(ws)
            assert frame["type"] == "error", frame
            assert frame["ok"] is False
            assert frame["error"]["code"] == code, (message, frame)
            if field is not None:
                assert frame["error"]["details"][0]["field"] == field, (message, frame)
        # unknown run: an error frame naming it, other subscriptions keep working
        await ws.send(json.dumps({"type": "subscribe", "run_id": "no-such-run"}))
        assert (await recv(ws))["type"] == "subscribed"
        missing = await recv(ws)
        assert missing["type"] == "error"
        assert missing["run_id"] == "no-such-run"
        assert missing["error"]["code"] == "not_found"
        await emit(orchestrator, run.id, 2)
        assert (await recv(ws))["sequence"] == 2


async def test_unsubscribe_stops_events(gateway_url: str, orchestrator: StubOrchestrator) -> None:
    run = orchestrator.add_run()
    async with client(gateway_url) as ws:
        await subscribe(ws, run.id)
        await ws.send(json.dumps({"type": "unsubscribe", "run_id": run.id}))
        assert await recv(ws) == {"type": "unsubscribed", "run_id": run.id}
        await emit(orchestrator, run.id, 1)
        await assert_silent(ws)


async def test_origin_policy(gateway_url: str, orchestrator: StubOrchestrator) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with client(gateway_url, origin="https://evil.example.com"):
            pass
    assert refused.value.response.status_code == 403
    host = gateway_url.removeprefix("http://")
    for allowed in (
        "https://studio.example.com",  # listed in the settings
        "http://localhost:5173",
        f"http://{host}",  # same host
    ):
        async with client(gateway_url, origin=allowed) as ws:
            await subscribe(ws, "any-run")
