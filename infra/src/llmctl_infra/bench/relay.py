"""Websocket relay latency: config events published to JetStream at a fixed rate while many
websocket clients follow them through the gateway, next to raw NATS subscribers in the same run.

Clients run in worker processes (a single Python process cannot read 100,000 frames/s and
still time them fairly); every process also holds one raw NATS subscription to the same
subjects. Latency is publish (wall clock, just before the JetStream publish) to the moment a
client has decoded the frame. Events go to ``llmctl.evt.config.bench.<tag>.published``, which
no service consumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import time
from dataclasses import dataclass, field
from typing import Any

import websockets

from llmctl_contracts import encode, subjects
from llmctl_libs.bus import connect_raw
from llmctl_libs.ids import new_id
from llmctl_libs.messages import Trace, make_envelope

__all__ = ["RelayFigures", "percentile", "websocket_relay_latency"]

BENCH_ENTITY = "bench"
SETTLE_SECONDS = 10.0
"""How long clients keep reading after the last publish before counting what is missing."""


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (nearest rank) of ``values``; 0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


@dataclass
class RelayFigures:
    """What one worker process measured."""

    ws_ms: list[float] = field(default_factory=list)
    raw_ms: list[float] = field(default_factory=list)
    disconnected: list[str] = field(default_factory=list)


async def _follow(ws_url: str, tag: str, expected: int, figures: RelayFigures) -> None:
    received = 0
    try:
        async with websockets.connect(ws_url, max_queue=None, compression=None) as ws:
            await ws.send(json.dumps({"type": "subscribe_config"}))
            while received < expected:
                frame = json.loads(await ws.recv())
                now = time.time_ns()
                data = frame.get("data") or {}
                if frame.get("entity") == BENCH_ENTITY and data.get("tag") == tag:
                    figures.ws_ms.append((now - data["sent_ns"]) / 1e6)
                    received += 1
    except websockets.ConnectionClosed as exc:
        figures.disconnected.append(f"{exc.rcvd.code if exc.rcvd else 1006}: {exc.rcvd}")


async def _worker(
    ws_url: str, nats_url: str, clients: int, tag: str, expected: int, ready: Any, go: Any
) -> RelayFigures:
    figures = RelayFigures()
    nc = await connect_raw(nats_url)
    raw_done = asyncio.Event()

    async def on_raw(msg: Any) -> None:
        now = time.time_ns()
        envelope = json.loads(msg.data)
        figures.raw_ms.append((now - envelope["payload"]["sent_ns"]) / 1e6)
        if len(figures.raw_ms) >= expected:
            raw_done.set()

    await nc.subscribe(subjects.config_event(BENCH_ENTITY, tag, "*"), cb=on_raw)
    tasks = [asyncio.create_task(_follow(ws_url, tag, expected, figures)) for _ in range(clients)]
    await asyncio.sleep(1.0)  # every subscription is in place (subscribe_config answers first)
    ready.put(True)
    await asyncio.to_thread(go.wait)
    deadline = expected / 100 + SETTLE_SECONDS
    _, pending = await asyncio.wait(tasks, timeout=deadline)
    for task in pending:
        task.cancel()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(raw_done.wait(), 1.0)
    await nc.close()
    return figures


def _run_worker(
    ws_url: str,
    nats_url: str,
    clients: int,
    tag: str,
    expected: int,
    ready: Any,
    go: Any,
    results: Any,
) -> None:
    figures = asyncio.run(_worker(ws_url, nats_url, clients, tag, expected, ready, go))
    results.put((figures.ws_ms, figures.raw_ms, figures.disconnected))


async def _publish(nats_url: str, tag: str, rate: int, count: int) -> float:
    """Publish ``count`` events at ``rate``/s (paced in 10 ms slots); returns the achieved rate."""
    nc = await connect_raw(nats_url)
    js = nc.jetstream()
    subject = subjects.config_event(BENCH_ENTITY, tag, "published")
    per_slot = max(1, rate // 100)
    started = time.perf_counter()
    sent = 0
    try:
        while sent < count:
            batch = []
            for _ in range(min(per_slot, count - sent)):
                envelope = make_envelope(
                    "bench.published",
                    {"tag": tag, "sent_ns": time.time_ns(), "n": sent},
                    trace=Trace(correlation_id=tag),
                    idempotency_key=new_id(),
                )
                batch.append(js.publish(subject, encode(envelope)))
                sent += 1
            await asyncio.gather(*batch)
            next_slot = started + sent / rate
            delay = next_slot - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        return sent / (time.perf_counter() - started)
    finally:
        await nc.close()


async def websocket_relay_latency(
    nats_url: str,
    gateway_url: str,
    *,
    clients: int = 100,
    rate: int = 1000,
    seconds: float = 5.0,
    processes: int = 4,
) -> dict[str, Any]:
    """Publish ``rate`` config events/s for ``seconds`` while ``clients`` websocket clients
    follow them; the same events' raw NATS latency is measured alongside.

    Returns:
        ``{"clients", "rate", "achieved_rate", "events", "websocket": {p50_ms, p99_ms, max_ms,
        received, expected, disconnected}, "raw_nats": {p50_ms, p99_ms, max_ms, received}}``.
    """
    tag = new_id()
    count = int(rate * seconds)
    ws_url = gateway_url.replace("http://", "ws://").rstrip("/") + "/api/v1/ws"
    context = multiprocessing.get_context("spawn")
    ready, results, go = context.Queue(), context.Queue(), context.Event()
    per_process = [
        clients // processes + (1 if i < clients % processes else 0) for i in range(processes)
    ]
    workers = [
        context.Process(
            target=_run_worker,
            args=(ws_url, nats_url, n, tag, count, ready, go, results),
            daemon=True,
        )
        for n in per_process
        if n
    ]
    for worker in workers:
        worker.start()
    for _ in workers:
        await asyncio.to_thread(ready.get, True, 120)
    go.set()
    achieved = await _publish(nats_url, tag, rate, count)
    ws_ms: list[float] = []
    raw_ms: list[float] = []
    disconnected: list[str] = []
    for _ in workers:
        w, r, d = await asyncio.to_thread(results.get, True, count / 100 + 60)
        ws_ms += w
        raw_ms += r
        disconnected += d
    for worker in workers:
        worker.join(10)
    return {
        "clients": clients,
        "rate": rate,
        "achieved_rate": achieved,
        "events": count,
        "websocket": {
            "p50_ms": percentile(ws_ms, 0.50),
            "p99_ms": percentile(ws_ms, 0.99),
            "max_ms": max(ws_ms, default=0.0),
            "received": len(ws_ms),
            "expected": count * clients,
            "disconnected": len(disconnected),
            "disconnect_reasons": sorted(set(disconnected)),
        },
        "raw_nats": {
            "subscribers": len(workers),
            "p50_ms": percentile(raw_ms, 0.50),
            "p99_ms": percentile(raw_ms, 0.99),
            "max_ms": max(raw_ms, default=0.0),
            "received": len(raw_ms),
        },
    }
