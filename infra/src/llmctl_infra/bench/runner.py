"""Runs every benchmark against a running stack and prints JSON plus a table."""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import itertools
import json
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
import websockets
from nats.aio.msg import Msg

from llmctl_contracts import subjects
from llmctl_libs import event_loop
from llmctl_libs.bus import connect_raw

from ..state import STATE_FILE, StackState
from .cpu import cpu_per_execution_ms, sample_cpu
from .model_list import model_list_rate, nats_request_rate, seed_models
from .raw import durable_hop_floor, jetstream_publish_rate, postgres_commit_rate
from .relay import percentile, websocket_relay_latency
from .workloads import (
    HARD_EXECUTION_CAP,
    MAX_FAN_OUT,
    counted_loop,
    fan_out_fan_in,
    noop_chain,
)

__all__ = ["main"]


async def _create(client: httpx.AsyncClient, flowchart: dict[str, Any]) -> str:
    response = await client.post("/api/v1/flowcharts", json=flowchart)
    response.raise_for_status()
    return str(response.json()["data"]["id"])


async def _start(client: httpx.AsyncClient, flowchart_id: str, attempts: int = 3) -> str:
    """Start a run; a 503/504 (orchestrator busy) is retried with the same idempotency key,
    which returns the run the first request may have created rather than a second one."""
    key = str(uuid.uuid4())
    for attempt in range(1, attempts + 1):
        response = await client.post(
            "/api/v1/runs", json={"flowchart_id": flowchart_id}, headers={"Idempotency-Key": key}
        )
        if response.status_code not in (503, 504) or attempt == attempts:
            break
    response.raise_for_status()
    return str(response.json()["data"]["id"])


async def _wait(client: httpx.AsyncClient, run_id: str, timeout: float) -> dict[str, Any]:
    """Follow the run's websocket stream to its terminal event (no polling load on the API)."""
    ws_url = str(client.base_url).rstrip("/").replace("http://", "ws://", 1) + "/api/v1/ws"
    async with (
        asyncio.timeout(timeout),
        websockets.connect(ws_url, max_queue=None, compression=None) as ws,
    ):
        await ws.send(json.dumps({"type": "subscribe", "run_id": run_id, "after_sequence": 0}))
        async for raw in ws:
            frame = json.loads(raw)
            if frame.get("type") == "error":
                raise RuntimeError(f"run {run_id}: {frame['error']['message']}")
            if frame.get("event_type") in ("run.succeeded", "run.failed"):
                break
    return await _get_run(client, run_id)


async def _get_run(client: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/v1/runs/{run_id}")
    response.raise_for_status()
    return dict(response.json()["data"])


async def _events(client: httpx.AsyncClient, run_id: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    after = 0
    while True:
        page = (
            await client.get(f"/api/v1/runs/{run_id}/events", params={"after_sequence": after})
        ).json()["data"]
        if not page:
            return events
        events += page
        after = page[-1]["sequence"]


def _timestamp(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(event["occurred_at"]).timestamp()


def _first(events: list[dict[str, Any]], event_type: str, node_id: str | None = None) -> float:
    """Timestamp of the first ``event_type`` event (of ``node_id``, if given)."""
    for e in events:
        if e["type"] == event_type and (node_id is None or e["payload"].get("node_id") == node_id):
            return _timestamp(e)
    raise RuntimeError(f"no {event_type} event" + (f" for node {node_id!r}" if node_id else ""))


def _hop_stats(done: list[float]) -> dict[str, float]:
    """p50/p99/mean of the gaps (ms) between consecutive completion timestamps."""
    hops = [(b - a) * 1000 for a, b in itertools.pairwise(done)]
    return {
        "hops": len(hops),
        "p50_ms": percentile(hops, 0.5),
        "p99_ms": percentile(hops, 0.99),
        "mean_ms": statistics.fmean(hops),
    }


async def _run_to_end(
    client: httpx.AsyncClient, flowchart: dict[str, Any], timeout: float
) -> tuple[dict[str, Any], list[dict[str, Any]], float]:
    """Create and run ``flowchart``; the finished run, its events and the wall seconds."""
    flowchart_id = await _create(client, flowchart)
    started = time.perf_counter()
    run_id = await _start(client, flowchart_id)
    run = await _wait(client, run_id, timeout=timeout)
    elapsed = time.perf_counter() - started
    if run["status"] != "succeeded":
        raise RuntimeError(f"{flowchart['name']} run ended {run['status']}")
    return run, await _events(client, run_id), elapsed


async def node_hop_latency(client: httpx.AsyncClient, length: int) -> dict[str, float]:
    """Latency between consecutive node completions along a chain of no-op nodes."""
    run, events, _ = await _run_to_end(client, noop_chain(length), timeout=600)
    return {
        **_hop_stats([_timestamp(e) for e in events if e["type"] == "node.succeeded"]),
        "node_executions": int(run["node_executions"]),
    }


def _throughput(run: dict[str, Any], events: list[dict[str, Any]], wall: float) -> dict[str, float]:
    """Executions/s over the client's wall time and over the run's own span.

    The wall time runs from the start request to the terminal event reaching the websocket;
    the span from the run's ``run.started`` to its ``run.succeeded`` event.
    """
    executions = int(run["node_executions"])
    span = _first(events, "run.succeeded") - _first(events, "run.started")
    return {
        "node_executions": executions,
        "wall_s": wall,
        "run_span_s": span,
        "node_executions_per_s": executions / wall,
        "node_executions_per_s_in_run": executions / span,
    }


def _branch_times(events: list[dict[str, Any]], event_type: str) -> list[float]:
    """Sorted timestamps of ``event_type`` events of the fan-out branches (``f1``...)."""
    return sorted(
        _timestamp(e)
        for e in events
        if e["type"] == event_type and str(e["payload"].get("node_id", "")).startswith("f")
    )


async def fan_out_fan_in_run(
    client: httpx.AsyncClient, state: StackState, width: int
) -> dict[str, Any]:
    """One run of ``start -> width parallel no-op nodes -> join (fan-in all) -> end``.

    Fan-out to fan-in latency: from the start's ``node.routed`` (its routing fires all
    ``width`` connectors) to the join's ``node.queued`` (the last branch's token completes the
    ``all`` fan-in). Phases, all from the start's ``node.routed``: the branches are queued and
    pass through inline in that same orchestrator transaction (``last_branch_done_ms``); the
    router's decisions for them come back one by one (``first/last_branch_routed_ms``) and each
    takes the run-row lock in turn (``branch_routed_gap_p50_ms`` apart).
    """
    rss_before = service_rss_mb(state).get("orchestrator", 0.0)
    run, events, wall = await _run_to_end(client, fan_out_fan_in(width), timeout=1800)
    rss_after = service_rss_mb(state).get("orchestrator", 0.0)
    fanned_out = _first(events, "node.routed", "start")
    joined = _first(events, "node.queued", "join")
    done = _branch_times(events, "node.succeeded")
    routed = _branch_times(events, "node.routed")
    if len(done) != width or len(routed) != width:
        raise RuntimeError(f"fan-out run: {len(done)} of {width} branches succeeded")
    gaps = [(b - a) * 1000 for a, b in itertools.pairwise(routed)]
    return {
        "width": width,
        **_throughput(run, events, wall),
        "fan_out_to_fan_in_ms": (joined - fanned_out) * 1000,
        "first_branch_done_ms": (done[0] - fanned_out) * 1000,
        "last_branch_done_ms": (done[-1] - fanned_out) * 1000,
        "first_branch_routed_ms": (routed[0] - fanned_out) * 1000,
        "last_branch_routed_ms": (routed[-1] - fanned_out) * 1000,
        "branch_routed_gap_p50_ms": percentile(gaps, 0.5) if gaps else 0.0,
        "orchestrator_rss_mb": {"before": rss_before, "after": rss_after},
    }


async def _sample_peak_rss(pid: int, peak: list[float], every: float = 0.5) -> None:
    """Keep ``peak[0]`` at the highest RSS (MiB) of ``pid`` seen until cancelled."""
    process = psutil.Process(pid)
    while True:
        try:
            peak[0] = max(peak[0], process.memory_info().rss / 2**20)
        except psutil.NoSuchProcess:
            return
        await asyncio.sleep(every)


async def loop_run(client: httpx.AsyncClient, state: StackState, executions: int) -> dict[str, Any]:
    """One run of ``start -> a -> loop -> (back to a | end)`` sized to ``executions``.

    Hops are the gaps between consecutive ``node.succeeded`` events inside the loop (``a`` and
    ``loop``); the orchestrator's RSS is read right before and right after the run and sampled
    every 0.5 s in between (peak).
    """
    orchestrator = state.services.get("orchestrator")
    pid = orchestrator.pid if orchestrator is not None else None
    before = service_rss_mb(state)
    peak = [before.get("orchestrator", 0.0)]
    sampler = asyncio.create_task(_sample_peak_rss(pid, peak)) if pid else None
    try:
        run, events, wall = await _run_to_end(client, counted_loop(executions), timeout=3600)
    finally:
        if sampler is not None:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler
    after = service_rss_mb(state)
    done = [
        _timestamp(e)
        for e in events
        if e["type"] == "node.succeeded" and e["payload"].get("node_id") in ("a", "loop")
    ]
    window = min(1000, len(done) // 2)
    orchestrator_after = after.get("orchestrator", 0.0)
    return {
        **_throughput(run, events, wall),
        "events": len(events),
        "hop": _hop_stats(done),
        "hop_window": window,
        "hop_first": _hop_stats(done[: window + 1]),
        "hop_last": _hop_stats(done[-window - 1 :]),
        "orchestrator_rss_mb": {
            "before": before.get("orchestrator", 0.0),
            "peak": max(peak[0], orchestrator_after),
            "after": orchestrator_after,
        },
        "rss_before_mb": before,
        "rss_after_mb": after,
    }


FOLLOW_MODES = ("websocket", "nats")
"""How the throughput workload learns that its runs ended: ``websocket`` follows every run's
whole event stream through the gateway (what the Studio does); ``nats`` subscribes to the runs'
terminal events on the bus (a program that starts runs and needs only their outcomes)."""


@contextlib.asynccontextmanager
async def _terminal_events(nats_url: str) -> AsyncIterator[dict[str, asyncio.Future[None]]]:
    """Futures, by run id, resolved when the run's ``run.succeeded``/``run.failed`` event is
    published. Subscribed before any run starts: a run's terminal event is published after its
    start, so none is missed."""
    ended: dict[str, asyncio.Future[None]] = collections.defaultdict(
        asyncio.get_running_loop().create_future
    )

    async def on_terminal(msg: Msg) -> None:
        future = ended[msg.subject.split(".")[3]]  # llmctl.evt.run.<run_id>.run.<action>
        if not future.done():
            future.set_result(None)

    connection = await connect_raw(nats_url)
    try:
        for action in ("succeeded", "failed"):
            await connection.subscribe(subjects.run_event("*", "run", action), cb=on_terminal)
        yield ended
    finally:
        await connection.close()


async def concurrent_runs(
    client: httpx.AsyncClient,
    runs: int,
    length: int,
    *,
    follow: str = "websocket",
    nats_url: str = "",
) -> dict[str, Any]:
    """Node executions per second with ``runs`` runs of a ``length``-node chain in flight,
    from the first start request until every run's end has reached the client (followed as
    :data:`FOLLOW_MODES` says)."""
    flowchart_id = await _create(client, noop_chain(length))
    async with contextlib.AsyncExitStack() as stack:
        ended = (
            await stack.enter_async_context(_terminal_events(nats_url)) if follow == "nats" else {}
        )
        started = time.perf_counter()
        run_ids = await asyncio.gather(*(_start(client, flowchart_id) for _ in range(runs)))
        if follow == "nats":
            async with asyncio.timeout(900):
                await asyncio.gather(*(ended[r] for r in run_ids))
            elapsed = time.perf_counter() - started
            finished = [await _get_run(client, r) for r in run_ids]
        else:
            finished = await asyncio.gather(*(_wait(client, r, timeout=900) for r in run_ids))
            elapsed = time.perf_counter() - started
    executions = sum(int(r["node_executions"]) for r in finished)
    return {
        "runs": runs,
        "follow": follow,
        "succeeded": sum(r["status"] == "succeeded" for r in finished),
        "node_executions": executions,
        "seconds": elapsed,
        "node_executions_per_s": executions / elapsed,
    }


def service_rss_mb(state: StackState) -> dict[str, float]:
    """Resident memory of each service process, in MiB."""
    rss: dict[str, float] = {}
    for name, record in state.services.items():
        if record.pid:
            try:
                rss[name] = psutil.Process(record.pid).memory_info().rss / 2**20
            except psutil.NoSuchProcess:
                continue
    return rss


async def _with_cpu(state: StackState, workload: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    """The workload's figures plus the CPU each process spent on it per node execution."""
    before = sample_cpu(state)
    figures = await workload
    figures["cpu_ms_per_execution"] = cpu_per_execution_ms(
        before, sample_cpu(state), int(figures["node_executions"])
    )
    return figures


async def run_all(
    state: StackState,
    *,
    chain: int,
    runs: list[int],
    run_length: int,
    runs_follow: tuple[str, ...] = FOLLOW_MODES,
    fanout: int = 1000,
    loop: int = 10_000,
    relay: dict[str, Any] | None = None,
    relay_only: bool = False,
    model_list: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Every figure, raw limits first; ``chain``/``runs``/``fanout``/``loop`` of 0 skip those
    workloads. ``runs`` lists the concurrencies; each is measured once per mode of
    ``runs_follow`` (results ``concurrent``: a list).

    ``relay`` (keyword arguments of :func:`websocket_relay_latency`, with ``modes``, a list of
    ``broadcast`` / ``partitioned``, instead of ``partitioned``; ``None`` skips it) adds the
    websocket relay figures, one entry per mode; ``relay_only`` measures nothing else.
    ``model_list`` (``seconds``, ``concurrency``, ``models``; ``None`` skips it) adds model list
    requests/s next to raw NATS request/reply.
    """
    nats_url = state.infra["nats"].url
    database_url = state.infra["postgres"].url
    if relay_only:
        return {
            "machine": {"cpus": psutil.cpu_count(), "load_avg_1m_before": psutil.getloadavg()[0]},
            "relay": await _relay(nats_url, state.gateway_url or "", relay or {}),
        }
    results: dict[str, Any] = {
        "machine": {
            "cpus": psutil.cpu_count(),
            "memory_gib": psutil.virtual_memory().total / 2**30,
            # other work on the machine skews every figure: recorded, not corrected for
            "load_avg_1m_before": psutil.getloadavg()[0],
        }
    }
    results["rss_idle_mb"] = service_rss_mb(state)
    results["raw"] = {
        "jetstream_publish_ack_per_s": await jetstream_publish_rate(nats_url),
        "jetstream_publish_ack_per_s_x16": await jetstream_publish_rate(nats_url, concurrency=16),
        "postgres_commits_per_s": await postgres_commit_rate(database_url),
        "postgres_commits_per_s_x8": await postgres_commit_rate(database_url, concurrency=8),
        # on the services' event loop (uvloop), in its own thread: the floor of their hop
        "durable_hop": await asyncio.to_thread(
            event_loop.run, durable_hop_floor(nats_url, database_url)
        ),
    }
    async with httpx.AsyncClient(base_url=state.gateway_url or "", timeout=60) as client:
        if chain:
            results["node_hop"] = await _with_cpu(state, node_hop_latency(client, chain))
        concurrencies = [n for n in runs if n]
        if concurrencies:
            results["concurrent"] = [
                await _with_cpu(
                    state,
                    concurrent_runs(client, n, run_length, follow=mode, nats_url=nats_url),
                )
                for n in concurrencies
                for mode in runs_follow
            ]
        if fanout:
            results["fan_out"] = await _with_cpu(state, fan_out_fan_in_run(client, state, fanout))
        if loop:
            results["loop"] = await _with_cpu(state, loop_run(client, state, loop))
        if model_list is not None:
            results["model_list"] = await _model_list(client, nats_url, **model_list)
    if relay is not None:
        results["relay"] = await _relay(nats_url, state.gateway_url or "", relay)
    results["rss_after_mb"] = service_rss_mb(state)
    results["machine"]["load_avg_1m_after"] = psutil.getloadavg()[0]
    return results


async def _relay(nats_url: str, gateway_url: str, relay: dict[str, Any]) -> list[dict[str, Any]]:
    options = dict(relay)
    modes = options.pop("modes", ["broadcast", "partitioned"])
    return [
        await websocket_relay_latency(
            nats_url, gateway_url, partitioned=mode == "partitioned", **options
        )
        for mode in modes
    ]


async def _model_list(
    client: httpx.AsyncClient, nats_url: str, *, seconds: float, concurrency: int, models: int
) -> dict[str, Any]:
    await seed_models(client, models)
    figures = await model_list_rate(client, seconds=seconds, concurrency=concurrency)
    figures["models"] = models
    figures["raw_nats_request_reply_per_s"] = await nats_request_rate(
        nats_url, seconds=seconds, concurrency=concurrency
    )
    return figures


def model_list_rows(figures: dict[str, Any]) -> list[tuple[str, str]]:
    """Table rows of the model list figures."""
    label = f"GET /api/v1/models ({figures['models']} models, {figures['concurrency']} clients)"
    return [
        (
            f"{label}: requests/s",
            f"{figures['requests_per_s']:,.0f} /s ({figures['failures']} failed)",
        ),
        (f"{label}: p50 / p99", f"{figures['p50_ms']:.2f} / {figures['p99_ms']:.2f} ms"),
        (
            f"raw NATS request/reply ({figures['concurrency']} clients)",
            f"{figures['raw_nats_request_reply_per_s']:,.0f} /s",
        ),
    ]


def relay_rows(relay: dict[str, Any]) -> list[tuple[str, str]]:
    """Table rows of the websocket relay figures."""
    ws, raw = relay["websocket"], relay["raw_nats"]
    label = (
        f"ws relay ({relay['mode']}), {relay['clients']} clients, "
        f"{relay['achieved_rate']:,.0f} events/s"
    )
    return [
        (f"{label}: p50 / p99", f"{ws['p50_ms']:.2f} / {ws['p99_ms']:.2f} ms"),
        (
            f"{label}: frames received",
            f"{ws['received']:,}/{ws['expected']:,} ({ws['disconnected']} disconnected)",
        ),
        (
            f"raw NATS ({relay['mode']}, {raw['subscribers']} subscribers), same events: p50 / p99",
            f"{raw['p50_ms']:.2f} / {raw['p99_ms']:.2f} ms",
        ),
    ]


def cpu_text(cpu: dict[str, float]) -> str:
    """``orchestrator 2.90 + router 1.45 + ... = 7.60 ms``, largest first."""
    parts = sorted(((v, k) for k, v in cpu.items() if k != "total"), reverse=True)
    shown = " + ".join(f"{name} {ms:.2f}" for ms, name in parts if ms >= 0.005)
    return f"{shown} = {cpu.get('total', 0.0):.2f} ms"


def _cpu_row(label: str, figures: dict[str, Any]) -> list[tuple[str, str]]:
    cpu = figures.get("cpu_ms_per_execution")
    return [(f"{label}: CPU per execution", cpu_text(cpu))] if cpu else []


def table(results: dict[str, Any]) -> str:
    """A human-readable table of the figures."""
    if "raw" not in results:  # relay only
        rows = [row for relay in results["relay"] for row in relay_rows(relay)]
        width = max(len(r[0]) for r in rows)
        return "\n".join(f"{name.ljust(width)}  {value}" for name, value in rows)
    raw = results["raw"]
    rows = [
        (
            "raw JetStream publish+ack, 1 publisher",
            f"{raw['jetstream_publish_ack_per_s']:,.0f} msg/s",
        ),
        (
            "raw JetStream publish+ack, 16 publishers",
            f"{raw['jetstream_publish_ack_per_s_x16']:,.0f} msg/s",
        ),
        (
            "raw Postgres single-row commit, 1 conn",
            f"{raw['postgres_commits_per_s']:,.0f} commits/s",
        ),
        (
            "raw Postgres single-row commit, 8 conns",
            f"{raw['postgres_commits_per_s_x8']:,.0f} commits/s",
        ),
        (
            "raw durable hop p50 / p99 (2 commits, 2 JetStream hops)",
            f"{raw['durable_hop']['p50_ms']:.2f} / {raw['durable_hop']['p99_ms']:.2f} ms",
        ),
    ]
    if hop := results.get("node_hop"):
        rows += [
            (f"node hop p50 ({hop['hops']} hops)", f"{hop['p50_ms']:.2f} ms"),
            (f"node hop p99 ({hop['hops']} hops)", f"{hop['p99_ms']:.2f} ms"),
            *_cpu_row("node hop", hop),
        ]
    for conc in results.get("concurrent") or []:
        label = f"{conc['runs']} concurrent runs, ends via {conc.get('follow', 'websocket')}"
        rows += [
            (
                f"node executions/s ({label})",
                f"{conc['node_executions_per_s']:,.0f} /s "
                f"({conc['succeeded']}/{conc['runs']} succeeded)",
            ),
            *_cpu_row(label, conc),
        ]
    if fan := results.get("fan_out"):
        label = f"fan-out/fan-in, {fan['width']:,} branches"
        rows += [
            (f"{label}: wall time", f"{fan['wall_s']:.2f} s ({fan['node_executions']:,} exec)"),
            (
                f"{label}: executions/s",
                f"{fan['node_executions_per_s']:,.0f} /s "
                f"(in-run span {fan['node_executions_per_s_in_run']:,.0f} /s)",
            ),
            (f"{label}: fan-out -> fan-in", f"{fan['fan_out_to_fan_in_ms']:,.0f} ms"),
            (
                f"{label}: branches queued+done / routed",
                f"{fan['last_branch_done_ms']:,.0f} ms / {fan['first_branch_routed_ms']:,.0f}"
                f"-{fan['last_branch_routed_ms']:,.0f} ms "
                f"({fan['branch_routed_gap_p50_ms']:.1f} ms apart)",
            ),
            (
                f"{label}: orchestrator RSS",
                f"{fan['orchestrator_rss_mb']['before']:.0f} -> "
                f"{fan['orchestrator_rss_mb']['after']:.0f} MiB",
            ),
            *_cpu_row(label, fan),
        ]
    if lp := results.get("loop"):
        label = f"loop, {lp['node_executions']:,} executions"
        rss = lp["orchestrator_rss_mb"]
        rows += [
            (f"{label}: hop p50 ({lp['hop']['hops']:,} hops)", f"{lp['hop']['p50_ms']:.2f} ms"),
            (f"{label}: hop p99", f"{lp['hop']['p99_ms']:.2f} ms"),
            (
                f"{label}: hop p50 first/last {lp['hop_window']:,}",
                f"{lp['hop_first']['p50_ms']:.2f} / {lp['hop_last']['p50_ms']:.2f} ms",
            ),
            (
                f"{label}: executions/s",
                f"{lp['node_executions_per_s']:,.0f} /s ({lp['wall_s']:.1f} s wall)",
            ),
            (
                f"{label}: orchestrator RSS",
                f"{rss['before']:.0f} -> {rss['after']:.0f} MiB (peak {rss['peak']:.0f})",
            ),
            *_cpu_row(label, lp),
        ]
    if model_list := results.get("model_list"):
        rows += model_list_rows(model_list)
    for relay in results.get("relay") or []:
        rows += relay_rows(relay)
    for name, mb in sorted(results["rss_after_mb"].items()):
        rows.append(
            (
                f"RSS {name} (idle -> after)",
                f"{results['rss_idle_mb'].get(name, 0):.0f} -> {mb:.0f} MiB",
            )
        )
    width = max(len(r[0]) for r in rows)
    return "\n".join(f"{name.ljust(width)}  {value}" for name, value in rows)


def _counts(text: str) -> list[int]:
    """``50`` or ``50,200``: non-negative run counts."""
    try:
        counts = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a comma-separated list of counts: {text!r}"
        ) from None
    if any(n < 0 for n in counts):
        raise argparse.ArgumentTypeError(f"run counts must be >= 0: {text!r}")
    return counts


def main(argv: list[str] | None = None) -> int:
    """``llmctl bench [--home DIR] [--chain N] [--runs N[,N...]] [--runs-follow M]
    [--run-length N] [--fanout N]
    [--loop N] [--relay-seconds S] [--relay-clients N] [--relay-rate N] [--relay-processes N]
    [--relay-mode M] [--relay-only] [--model-list-seconds S] [--model-list-clients N]
    [--model-list-models N] [--json-out FILE]``."""
    parser = argparse.ArgumentParser(prog="llmctl bench", description=__doc__)
    parser.add_argument("--home", default=".llmctl", help="stack home of a running `llmctl up`")
    parser.add_argument(
        "--chain", type=int, default=200, help="no-op nodes in the latency chain (0 skips it)"
    )
    parser.add_argument(
        "--runs",
        type=_counts,
        default=[50, 200],
        help="concurrent runs for throughput, one or more comma-separated (0 skips it)",
    )
    parser.add_argument(
        "--runs-follow",
        choices=[*FOLLOW_MODES, "both"],
        default="both",
        help="how the throughput client learns that runs ended: websocket (every event of every "
        "run relayed by the gateway), nats (the terminal events on the bus), or both",
    )
    parser.add_argument("--run-length", type=int, default=20, help="no-op nodes per concurrent run")
    parser.add_argument(
        "--fanout",
        type=int,
        default=1000,
        help="parallel no-op branches in the fan-out/fan-in run (0 skips it)",
    )
    parser.add_argument(
        "--loop",
        type=int,
        default=10_000,
        help="node executions of the loop run, at most 10,000 (0 skips it)",
    )
    parser.add_argument(
        "--relay-seconds",
        type=float,
        default=5.0,
        help="seconds of the websocket relay benchmark (0 skips it)",
    )
    parser.add_argument("--relay-clients", type=int, default=100, help="websocket clients")
    parser.add_argument("--relay-rate", type=int, default=1000, help="events/s published")
    parser.add_argument(
        "--relay-processes", type=int, default=4, help="processes the clients are spread over"
    )
    parser.add_argument(
        "--relay-mode",
        choices=["broadcast", "partitioned", "both"],
        default="both",
        help="broadcast: every client follows every event; partitioned: each client follows "
        "its own share (entity_ids filter), rate events/s leave the gateway in all",
    )
    parser.add_argument(
        "--relay-only", action="store_true", help="measure the websocket relay and nothing else"
    )
    parser.add_argument(
        "--model-list-seconds",
        type=float,
        default=5.0,
        help="seconds of the model list benchmark (0 skips it)",
    )
    parser.add_argument(
        "--model-list-clients", type=int, default=8, help="concurrent model list clients"
    )
    parser.add_argument(
        "--model-list-models", type=int, default=100, help="models seeded for the list benchmark"
    )
    parser.add_argument("--json-out", type=Path, help="also write the JSON figures to this file")
    args = parser.parse_args(argv)
    if args.relay_seconds < 0 or args.relay_clients < 1 or args.relay_rate < 1:
        parser.error("--relay-seconds must be >= 0, --relay-clients and --relay-rate >= 1")
    if args.relay_processes < 1:
        parser.error("--relay-processes must be >= 1")
    if args.model_list_seconds < 0 or args.model_list_clients < 1 or args.model_list_models < 0:
        parser.error(
            "--model-list-seconds and --model-list-models must be >= 0, --model-list-clients >= 1"
        )
    model_list = (
        {
            "seconds": args.model_list_seconds,
            "concurrency": args.model_list_clients,
            "models": args.model_list_models,
        }
        if args.model_list_seconds
        else None
    )
    relay = (
        {
            "clients": args.relay_clients,
            "rate": args.relay_rate,
            "seconds": args.relay_seconds,
            "processes": args.relay_processes,
            "modes": ["broadcast", "partitioned"]
            if args.relay_mode == "both"
            else [args.relay_mode],
        }
        if args.relay_seconds
        else None
    )
    if args.fanout < 0 or args.loop < 0 or args.loop > HARD_EXECUTION_CAP:
        parser.error(f"--fanout must be >= 0 and --loop between 0 and {HARD_EXECUTION_CAP}")
    if 0 < args.loop < 4:
        parser.error("--loop needs at least 4 node executions (start, a, loop, end)")
    if args.fanout > MAX_FAN_OUT:
        parser.error(f"--fanout is at most {MAX_FAN_OUT} (5,000 nodes per flowchart)")
    state = StackState.read(Path(args.home) / STATE_FILE)
    if state is None or state.phase != "running" or not state.gateway_url:
        print(f"llmctl bench: no running stack in {args.home}; start one with `llmctl up --detach`")
        return 1
    results = asyncio.run(
        run_all(
            state,
            chain=args.chain,
            runs=args.runs,
            run_length=args.run_length,
            runs_follow=FOLLOW_MODES if args.runs_follow == "both" else (args.runs_follow,),
            fanout=args.fanout,
            loop=args.loop,
            relay=relay,
            relay_only=args.relay_only,
            model_list=model_list,
        )
    )
    text = json.dumps(results, indent=2)
    print(text)
    print()
    print(table(results))
    if args.json_out:
        args.json_out.write_text(text + "\n")
    return 0
