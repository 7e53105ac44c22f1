"""The websocket against the real orchestrator and gateway processes: config events, several
runs on one socket, resume across a forced disconnect (gateway killed), slow clients."""

from __future__ import annotations

import asyncio
import json
import secrets
import socket as stdlib_socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import msgspec
import nats
import pytest
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidStatus

from llmctl_contracts import encode, subjects
from llmctl_infra.bench.relay import websocket_relay_latency
from llmctl_libs.ids import new_id
from llmctl_libs.messages import Trace, make_envelope

if TYPE_CHECKING:  # the fixture's type; conftest is not importable under importlib mode
    from conftest import ApiStack

pytestmark = pytest.mark.timeout(240)


class ModelUpdated(msgspec.Struct, frozen=True, kw_only=True):
    """A config payload as another service (the models service) would publish it."""

    model_id: str
    note: str


def chart(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "nodes": [
            {"type": "start", "id": "start"},
            {"type": "task", "id": "a", "prompt": "p"},
            {"type": "task", "id": "b", "prompt": "p"},
            {"type": "end", "id": "end"},
        ],
        "connectors": [
            {"id": "sa", "source": "start", "target": "a"},
            {"id": "sb", "source": "start", "target": "b"},
            {"id": "ae", "source": "a", "target": "end"},
            {"id": "be", "source": "b", "target": "end"},
        ],
    }


@asynccontextmanager
async def socket(api: ApiStack, **kw: Any) -> AsyncIterator[ClientConnection]:
    async with websockets.connect(api.ws_url, **kw) as ws:
        yield ws


@asynccontextmanager
async def stalled_socket(api: ApiStack) -> AsyncIterator[ClientConnection]:
    """A client whose kernel receive buffer is small and that buffers one frame at most, so
    the gateway's send queue fills soon after it stops reading."""
    url = urlsplit(api.ws_url)
    raw = stdlib_socket.socket()
    raw.setsockopt(stdlib_socket.SOL_SOCKET, stdlib_socket.SO_RCVBUF, 16_384)
    raw.connect((url.hostname, url.port))
    raw.setblocking(False)
    async with websockets.connect(api.ws_url, sock=raw, max_queue=1, compression=None) as ws:
        yield ws


async def recv(ws: ClientConnection, timeout: float = 15.0) -> dict[str, Any]:
    frame = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    assert isinstance(frame, dict)
    return frame


async def assert_silent(ws: ClientConnection, seconds: float = 0.7) -> None:
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(ws.recv(), seconds)


async def subscribe_config(ws: ClientConnection, after: int | None = None) -> int:
    message: dict[str, Any] = {"type": "subscribe_config"}
    if after is not None:
        message["after_sequence"] = after
    await ws.send(json.dumps(message))
    frame = await recv(ws)
    assert frame["type"] == "subscribed", frame
    assert frame["topic"] == "config", frame
    if after is not None:
        assert frame["after_sequence"] == after
    return int(frame["after_sequence"])


async def subscribe_run(ws: ClientConnection, run_id: str, after: int = 0) -> None:
    await ws.send(json.dumps({"type": "subscribe", "run_id": run_id, "after_sequence": after}))
    assert await recv(ws) == {"type": "subscribed", "run_id": run_id, "after_sequence": after}


async def publish_model_events(api: ApiStack, *events: tuple[str, str]) -> None:
    """Publish ``(model_id, note)`` config events the way the models service does: envelopes
    on ``llmctl.evt.config.model.<id>.updated``, in order."""
    nc = await nats.connect(api.nats_url)
    try:
        for model_id, note in events:
            envelope = make_envelope(
                "model.updated",
                ModelUpdated(model_id=model_id, note=note),
                trace=Trace(correlation_id=new_id()),
                idempotency_key=new_id(),
            )
            await nc.jetstream().publish(
                subjects.config_event("model", model_id, "updated"),
                encode(envelope),
                headers={"Nats-Msg-Id": envelope.idempotency_key},
            )
    finally:
        await nc.close()


async def publish_model_event(api: ApiStack, model_id: str, note: str = "x") -> None:
    """Publish one model config event."""
    await publish_model_events(api, (model_id, note))


def data(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()["data"]


async def run_events(api: ApiStack, run_id: str) -> list[dict[str, Any]]:
    return list(data(await api.http.get(f"/api/v1/runs/{run_id}/events")))


async def test_config_events_flowcharts_and_other_services(api_stack: ApiStack) -> None:
    api = api_stack
    async with socket(api) as ws:
        start = await subscribe_config(ws)
        created = data(await api.http.post("/api/v1/flowcharts", json=chart("cfg")), 201)
        frame = await recv(ws)
        assert frame["event"] == "config:flowchart:created"
        assert (frame["entity"], frame["entity_id"]) == ("flowchart", created["id"])
        assert frame["event_type"] == "flowchart.created"
        assert frame["data"] == {"flowchart_id": created["id"], "version": 1, "name": "cfg"}
        assert frame["sequence"] > start
        await publish_model_event(api, "m-1", "cheaper")
        model = await recv(ws)
        assert (model["event"], model["entity_id"]) == ("config:model:updated", "m-1")
        assert model["data"] == {"model_id": "m-1", "note": "cheaper"}
        assert model["sequence"] > frame["sequence"]
        # run events are not config events
        data(await api.http.post("/api/v1/runs", json={"flowchart_id": created["id"]}), 201)
        data(await api.http.put(f"/api/v1/flowcharts/{created['id']}", json=chart("cfg2")))
        updated = await recv(ws)
        assert updated["event"] == "config:flowchart:updated"
        assert updated["data"]["version"] == 2
        await ws.send(json.dumps({"type": "unsubscribe_config"}))
        assert await recv(ws) == {"type": "unsubscribed", "topic": "config"}
        await publish_model_event(api, "m-2")
        await assert_silent(ws)
        for bad, field in [
            ({"type": "subscribe_config", "after_sequence": -1}, "$.after_sequence"),
            ({"type": "subscribe_config", "run_id": "x"}, "$"),  # unknown field
        ]:
            await ws.send(json.dumps(bad))
            error = await recv(ws)
            assert error["type"] == "error"
            assert error["error"]["code"] == "validation_failed"
            assert error["error"]["details"][0]["field"] == field


async def test_config_subscription_filtered_by_entity_and_id(api_stack: ApiStack) -> None:
    """A client following some entities/ids gets only those, live and on resume; the events
    it skips still move its position forward."""
    api = api_stack
    keep, drop = f"m-keep-{new_id()}", f"m-drop-{new_id()}"
    only = {"type": "subscribe_config", "entities": ["model"], "entity_ids": [keep]}
    async with socket(api) as ws:
        await ws.send(json.dumps(only))
        ack = await recv(ws)
        assert (ack["type"], ack["entities"], ack["entity_ids"]) == (
            "subscribed",
            ["model"],
            [keep],
        )
        start = ack["after_sequence"]
        await publish_model_events(api, (drop, "a"), (keep, "b"), (drop, "c"), (keep, "d"))
        data(await api.http.post("/api/v1/flowcharts", json=chart("not-a-model")), 201)
        first, second = await recv(ws), await recv(ws)
        assert [(f["entity_id"], f["data"]["note"]) for f in (first, second)] == [
            (keep, "b"),
            (keep, "d"),
        ]
        await assert_silent(ws)
    async with socket(api) as ws:  # resume from the start with the same filter
        await ws.send(json.dumps({**only, "after_sequence": start}))
        assert (await recv(ws))["after_sequence"] == start
        replayed = [await recv(ws), await recv(ws)]
        assert [f["sequence"] for f in replayed] == [first["sequence"], second["sequence"]]
        await assert_silent(ws)
        for bad, field in [
            ({"type": "subscribe_config", "entities": []}, "$.entities"),
            ({"type": "subscribe_config", "entities": ["Model!"]}, "$.entities[0]"),
            ({"type": "subscribe_config", "entity_ids": [""]}, "$.entity_ids[0]"),
        ]:
            await ws.send(json.dumps(bad))
            error = await recv(ws)
            assert error["type"] == "error"
            assert error["error"]["details"][0]["field"] == field


async def test_several_runs_on_one_socket(api_stack: ApiStack) -> None:
    api = api_stack
    fc = data(await api.http.post("/api/v1/flowcharts", json=chart("multi")), 201)["id"]
    runs = [data(await api.http.post("/api/v1/runs", json={"flowchart_id": fc}), 201)["id"]]
    runs.append(data(await api.http.post("/api/v1/runs", json={"flowchart_id": fc}), 201)["id"])
    async with socket(api) as ws:
        for run_id in runs:
            await subscribe_run(ws, run_id)
        for run_id in runs:
            data(await api.http.post(f"/api/v1/runs/{run_id}/cancel"))
        expected = {
            run_id: [e["sequence"] for e in await run_events(api, run_id)] for run_id in runs
        }
        seen: dict[str, list[int]] = {run_id: [] for run_id in runs}
        while any(len(seen[r]) < len(expected[r]) for r in runs):
            frame = await recv(ws)
            assert frame["type"] == "event", frame
            seen[frame["run_id"]].append(frame["sequence"])
        assert seen == expected
        await assert_silent(ws)


async def test_resume_after_the_gateway_is_killed(api_stack: ApiStack) -> None:
    """Runs and config: after a forced disconnect, exactly the missed events, then live ones."""
    api = api_stack
    fc = data(await api.http.post("/api/v1/flowcharts", json=chart("resume")), 201)["id"]
    run_id = data(await api.http.post("/api/v1/runs", json={"flowchart_id": fc}), 201)["id"]
    before = [e["sequence"] for e in await run_events(api, run_id)]
    assert before
    run_seen: list[int] = []
    config_seen: list[int] = []
    async with socket(api) as ws:
        config_start = await subscribe_config(ws)
        await subscribe_run(ws, run_id)
        await publish_model_event(api, "resume-1")
        while len(run_seen) < len(before) or not config_seen:
            frame = await recv(ws)
            if frame.get("topic") == "config":
                config_seen.append(frame["sequence"])
            else:
                run_seen.append(frame["sequence"])
        assert run_seen == before
        # forced disconnect: the gateway dies under the client
        await asyncio.to_thread(api.services.kill, "gateway")
        with pytest.raises(ConnectionClosed):
            while True:
                await asyncio.wait_for(ws.recv(), 15)
    # events happen while the client is away
    await publish_model_event(api, "resume-2")
    await publish_model_event(api, "resume-3")
    await asyncio.to_thread(api.services.start, "gateway")
    # the shared client's pooled connections died with the gateway
    api.http = httpx.AsyncClient(base_url=api.services.gateway_url, timeout=30)
    data(await api.http.post(f"/api/v1/runs/{run_id}/pause"))
    data(await api.http.delete(f"/api/v1/flowcharts/{fc}"))
    missed_run = [
        e["sequence"] for e in await run_events(api, run_id) if e["sequence"] > before[-1]
    ]
    assert missed_run
    async with socket(api) as ws:
        await ws.send(json.dumps({"type": "subscribe_config", "after_sequence": config_seen[-1]}))
        await ws.send(
            json.dumps({"type": "subscribe", "run_id": run_id, "after_sequence": run_seen[-1]})
        )
        acks: list[dict[str, Any]] = []
        run_frames: list[dict[str, Any]] = []
        config_frames: list[dict[str, Any]] = []
        while len(run_frames) < len(missed_run) or len(config_frames) < 3 or len(acks) < 2:
            frame = await recv(ws)
            if frame["type"] == "subscribed":
                acks.append(frame)
            else:
                (config_frames if frame.get("topic") == "config" else run_frames).append(frame)
        assert {a.get("topic", "run"): a["after_sequence"] for a in acks} == {
            "config": config_seen[-1],
            "run": run_seen[-1],
        }
        assert [f["sequence"] for f in run_frames] == missed_run
        assert [(f["event"], f["entity_id"]) for f in config_frames] == [
            ("config:model:updated", "resume-2"),
            ("config:model:updated", "resume-3"),
            ("config:flowchart:deleted", fc),
        ]
        sequences = [f["sequence"] for f in config_frames]
        assert sequences == sorted(set(sequences))
        assert sequences[0] > config_seen[-1]
        await assert_silent(ws)
        # then live ones
        data(await api.http.post(f"/api/v1/runs/{run_id}/resume"))
        await publish_model_event(api, "resume-4")
        live_run: list[int] = []
        live_config: list[str] = []
        while not live_config or not live_run:
            frame = await recv(ws)
            if frame.get("topic") == "config":
                live_config.append(frame["entity_id"])
            else:
                live_run.append(frame["sequence"])
        assert live_config == ["resume-4"]
        assert live_run[0] == missed_run[-1] + 1
    assert config_start < config_seen[0]


async def test_slow_client_is_closed_and_others_carry_on(api_stack: ApiStack) -> None:
    """A client that stops reading is closed with 1008 and a reason; a reading one is not.

    The gateway under test has a 16-frame send queue and a 0.5 s send timeout.
    """
    api = api_stack
    big = secrets.token_urlsafe(300_000)  # ~400 kB that does not compress away
    count = 60
    async with socket(api) as fast, stalled_socket(api) as slow:
        after = await subscribe_config(fast)
        await subscribe_config(slow, after=after)
        # the slow client reads nothing from here on; its TCP buffers fill, then its queue
        await publish_model_events(api, *((f"slow-{i}", big) for i in range(count)))
        received = [await recv(fast) for _ in range(count)]
        assert [f["entity_id"] for f in received] == [f"slow-{i}" for i in range(count)]
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(slow.recv(), 30)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1008
        assert closed.value.rcvd.reason == "client too slow: send queue overflowed"
        # the fast client is still served
        await publish_model_event(api, "after-slow")
        assert (await recv(fast))["entity_id"] == "after-slow"


async def test_handshake_ids_and_refused_origin(api_stack: ApiStack) -> None:
    api = api_stack
    async with socket(api, additional_headers={"X-Request-ID": "ws-req-1"}) as ws:
        assert ws.response is not None
        assert ws.response.headers["x-request-id"] == "ws-req-1"
        assert ws.response.headers["x-correlation-id"] == "ws-req-1"
    with pytest.raises(InvalidStatus) as refused:
        async with socket(api, origin="https://evil.example.com"):  # type: ignore[arg-type]
            pass
    response = refused.value.response
    assert response.status_code == 403
    assert response.headers["x-request-id"]
    body = json.loads(response.body or b"{}")
    assert body["error"]["details"] == [
        {"field": "header.Origin", "reason": "not an allowed origin"}
    ]
    assert body["error"]["request_id"] == response.headers["x-request-id"]


async def test_relay_benchmark_measures_every_frame(api_stack: ApiStack) -> None:
    """`llmctl bench`'s relay workload at a small scale: every frame arrives and is timed."""
    figures = await websocket_relay_latency(
        api_stack.nats_url,
        api_stack.services.gateway_url,
        clients=4,
        rate=100,
        seconds=1.0,
        processes=2,
    )
    ws, raw = figures["websocket"], figures["raw_nats"]
    assert (figures["events"], figures["mode"]) == (100, "broadcast")
    assert (ws["received"], ws["expected"], ws["disconnected"]) == (400, 400, 0)
    assert raw["received"] == 200  # one raw subscriber per process
    assert 0 < ws["p50_ms"] <= ws["p99_ms"] <= ws["max_ms"]
    assert 0 < raw["p50_ms"] <= raw["p99_ms"]


async def test_partitioned_relay_benchmark_gives_each_client_its_share(
    api_stack: ApiStack,
) -> None:
    """Partitioned load: each client follows only its own entity id (a filtered
    subscription) and never sees another client's share."""
    figures = await websocket_relay_latency(
        api_stack.nats_url,
        api_stack.services.gateway_url,
        clients=3,
        rate=100,
        seconds=1.0,
        processes=2,
        partitioned=True,
    )
    ws, raw = figures["websocket"], figures["raw_nats"]
    assert (figures["events"], figures["mode"]) == (100, "partitioned")
    assert (ws["received"], ws["expected"], ws["disconnected"], ws["misrouted"]) == (100, 100, 0, 0)
    assert (raw["received"], raw["subscribers"]) == (100, 3)  # one per client subject
    assert 0 < ws["p50_ms"] <= ws["p99_ms"] <= ws["max_ms"]


async def test_config_resume_within_the_gateways_history(api_stack: ApiStack) -> None:
    """Resuming from just behind the gateway's live position is served from its history."""
    api = api_stack
    async with socket(api) as ws:
        await subscribe_config(ws)
        await publish_model_event(api, "hist-1")
        first = await recv(ws)
        assert first["entity_id"] == "hist-1"
    await publish_model_events(api, ("hist-2", "a"), ("hist-3", "b"))
    async with socket(api) as watcher:  # the hub has seen both once this client has
        await subscribe_config(watcher)
        await publish_model_event(api, "hist-4")
        assert (await recv(watcher))["entity_id"] == "hist-4"
    async with socket(api) as ws:
        await ws.send(json.dumps({"type": "subscribe_config", "after_sequence": first["sequence"]}))
        ack = await recv(ws)
        assert ack == {"type": "subscribed", "topic": "config", "after_sequence": first["sequence"]}
        frames = [await recv(ws) for _ in range(3)]
        assert [f["entity_id"] for f in frames] == ["hist-2", "hist-3", "hist-4"]
        await assert_silent(ws)
        await publish_model_event(api, "hist-5")
        assert (await recv(ws))["entity_id"] == "hist-5"
