"""Websocket relay latency: config events published to JetStream at a fixed rate while many
websocket clients follow them through the gateway, next to raw NATS subscribers in the same run.

Two loads:

* **broadcast**: every client follows every event (``rate x clients`` frames/s leave the
  gateway); every worker process also holds one raw NATS subscription to all of them;
* **partitioned**: event ``n`` belongs to client ``n mod clients`` (entity id
  ``<tag>-<i>``), and each client follows only its own (``subscribe_config`` with
  ``entity_ids``), as Studio pages follow what they show: ``rate`` frames/s leave the
  gateway in all. The raw NATS side holds one subscription per client subject.

Clients run in worker processes (a single Python process cannot read 100,000 frames/s and
still time them fairly). Latency is publish (wall clock, just before the JetStream publish) to
the moment a client has decoded the frame. Events go to
``llmctl.evt.config.bench.<id>.published``, which no service consumes.
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
    misrouted: int = 0
    """Frames of another client's share (partitioned load; always 0 when filtering works)."""


async def _follow(
    ws_url: str, tag: str, entity_id: str | None, expected: int, figures: RelayFigures
) -> None:
    received = 0
    subscribe: dict[str, Any] = {"type": "subscribe_config"}
    if entity_id is not None:
        subscribe |= {"entities": [BENCH_ENTITY], "entity_ids": [entity_id]}
    try:
        async with websockets.connect(ws_url, max_queue=None, compression=None) as ws:
            await ws.send(json.dumps(subscribe))
            while received < expected:
                frame = json.loads(await ws.recv())
                now = time.time_ns()
                data = frame.get("data") or {}
                if frame.get("entity") != BENCH_ENTITY or data.get("tag") != tag:
                    continue
                if entity_id is not None and frame.get("entity_id") != entity_id:
                    figures.misrouted += 1
                    continue
                figures.ws_ms.append((now - data["sent_ns"]) / 1e6)
                received += 1
    except websockets.ConnectionClosed as exc:
        figures.disconnected.append(f"{exc.rcvd.code if exc.rcvd else 1006}: {exc.rcvd}")


@dataclass(frozen=True)
class _Assignment:
    """What one worker process does: its clients (entity id filter or ``None`` for all,
    frames expected) and its raw NATS subscriptions (subjects, messages expected in all)."""

    clients: list[tuple[str | None, int]]
    raw_subjects: list[str]
    raw_expected: int


async def _worker(
    ws_url: str, nats_url: str, tag: str, job: _Assignment, ready: Any, go: Any
) -> RelayFigures:
    figures = RelayFigures()
    nc = await connect_raw(nats_url)
    raw_done = asyncio.Event()

    async def on_raw(msg: Any) -> None:
        now = time.time_ns()
        envelope = json.loads(msg.data)
        figures.raw_ms.append((now - envelope["payload"]["sent_ns"]) / 1e6)
        if len(figures.raw_ms) >= job.raw_expected:
            raw_done.set()

    for subject in job.raw_subjects:
        await nc.subscribe(subject, cb=on_raw)
    tasks = [
        asyncio.create_task(_follow(ws_url, tag, entity_id, expected, figures))
        for entity_id, expected in job.clients
    ]
    await asyncio.sleep(1.0)  # every subscription is in place (subscribe_config answers first)
    ready.put(True)
    await asyncio.to_thread(go.wait)
    deadline = max((e for _, e in job.clients), default=0) / 100 + SETTLE_SECONDS
    _, pending = await asyncio.wait(tasks, timeout=deadline)
    for task in pending:
        task.cancel()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(raw_done.wait(), 1.0)
    await nc.close()
    return figures


def _run_worker(
    ws_url: str, nats_url: str, tag: str, job: _Assignment, ready: Any, go: Any, results: Any
) -> None:
    figures = asyncio.run(_worker(ws_url, nats_url, tag, job, ready, go))
    results.put((figures.ws_ms, figures.raw_ms, figures.disconnected, figures.misrouted))


async def _publish(nats_url: str, tag: str, rate: int, count: int, ids: list[str]) -> float:
    """Publish ``count`` events at ``rate``/s (paced in 10 ms slots), event ``n`` under entity
    id ``ids[n mod len(ids)]``; returns the achieved rate."""
    nc = await connect_raw(nats_url)
    js = nc.jetstream()
    targets = [subjects.config_event(BENCH_ENTITY, i, "published") for i in ids]
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
                batch.append(js.publish(targets[sent % len(targets)], encode(envelope)))
                sent += 1
            await asyncio.gather(*batch)
            next_slot = started + sent / rate
            delay = next_slot - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        return sent / (time.perf_counter() - started)
    finally:
        await nc.close()


def _split(items: list[Any], parts: int) -> list[list[Any]]:
    """``items`` in ``parts`` contiguous runs of near-equal length (empty runs dropped)."""
    sizes = [len(items) // parts + (1 if i < len(items) % parts else 0) for i in range(parts)]
    runs, start = [], 0
    for size in sizes:
        if size:
            runs.append(items[start : start + size])
        start += size
    return runs


def _assignments(
    tag: str, clients: int, count: int, processes: int, partitioned: bool
) -> tuple[list[str], list[_Assignment]]:
    """The entity ids events are published under, and each worker process's job."""
    if not partitioned:
        everything = subjects.config_event(BENCH_ENTITY, tag, "*")
        return [tag], [
            _Assignment(
                clients=[(None, count)] * len(group), raw_subjects=[everything], raw_expected=count
            )
            for group in _split(list(range(clients)), processes)
        ]
    ids = [f"{tag}-{i}" for i in range(clients)]
    share = [count // clients + (1 if i < count % clients else 0) for i in range(clients)]
    jobs = []
    for group in _split(list(range(clients)), processes):
        jobs.append(
            _Assignment(
                clients=[(ids[i], share[i]) for i in group],
                raw_subjects=[subjects.config_event(BENCH_ENTITY, ids[i], "*") for i in group],
                raw_expected=sum(share[i] for i in group),
            )
        )
    return ids, jobs


async def websocket_relay_latency(
    nats_url: str,
    gateway_url: str,
    *,
    clients: int = 100,
    rate: int = 1000,
    seconds: float = 5.0,
    processes: int = 4,
    partitioned: bool = False,
) -> dict[str, Any]:
    """Publish ``rate`` config events/s for ``seconds`` while ``clients`` websocket clients
    follow them (each every event, or only its own share when ``partitioned``); the same
    events' raw NATS latency is measured alongside.

    Returns:
        ``{"clients", "rate", "mode", "achieved_rate", "events", "websocket": {p50_ms, p99_ms,
        max_ms, received, expected, disconnected, misrouted}, "raw_nats": {subscribers, p50_ms,
        p99_ms, max_ms, received}}``.
    """
    tag = new_id()
    count = int(rate * seconds)
    ws_url = gateway_url.replace("http://", "ws://").rstrip("/") + "/api/v1/ws"
    ids, jobs = _assignments(tag, clients, count, processes, partitioned)
    context = multiprocessing.get_context("spawn")
    ready, results, go = context.Queue(), context.Queue(), context.Event()
    workers = [
        context.Process(
            target=_run_worker, args=(ws_url, nats_url, tag, job, ready, go, results), daemon=True
        )
        for job in jobs
    ]
    for worker in workers:
        worker.start()
    for _ in workers:
        await asyncio.to_thread(ready.get, True, 120)
    go.set()
    achieved = await _publish(nats_url, tag, rate, count, ids)
    ws_ms: list[float] = []
    raw_ms: list[float] = []
    disconnected: list[str] = []
    misrouted = 0
    for _ in workers:
        w, r, d, m = await asyncio.to_thread(results.get, True, count / 100 + 60)
        ws_ms += w
        raw_ms += r
        disconnected += d
        misrouted += m
    for worker in workers:
        worker.join(10)
    return {
        "clients": clients,
        "rate": rate,
        "mode": "partitioned" if partitioned else "broadcast",
        "achieved_rate": achieved,
        "events": count,
        "websocket": {
            "p50_ms": percentile(ws_ms, 0.50),
            "p99_ms": percentile(ws_ms, 0.99),
            "max_ms": max(ws_ms, default=0.0),
            "received": len(ws_ms),
            "expected": sum(e for job in jobs for _, e in job.clients),
            "disconnected": len(disconnected),
            "disconnect_reasons": sorted(set(disconnected)),
            "misrouted": misrouted,
        },
        "raw_nats": {
            "subscribers": sum(len(job.raw_subjects) for job in jobs),
            "p50_ms": percentile(raw_ms, 0.50),
            "p99_ms": percentile(raw_ms, 0.99),
            "max_ms": max(raw_ms, default=0.0),
            "received": len(raw_ms),
        },
    }
