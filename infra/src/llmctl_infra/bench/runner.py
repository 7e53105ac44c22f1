"""Runs every benchmark against a running stack and prints JSON plus a table."""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
import websockets

from ..state import STATE_FILE, StackState
from .raw import jetstream_publish_rate, postgres_commit_rate
from .workloads import noop_chain

__all__ = ["main"]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


async def _create(client: httpx.AsyncClient, flowchart: dict[str, Any]) -> str:
    response = await client.post("/api/v1/flowcharts", json=flowchart)
    response.raise_for_status()
    return str(response.json()["data"]["id"])


async def _start(client: httpx.AsyncClient, flowchart_id: str) -> str:
    response = await client.post(
        "/api/v1/runs",
        json={"flowchart_id": flowchart_id},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    response.raise_for_status()
    return str(response.json()["data"]["id"])


async def _wait(client: httpx.AsyncClient, run_id: str, timeout: float) -> dict[str, Any]:
    """Follow the run's websocket stream to its terminal event (no polling load on the API)."""
    ws_url = str(client.base_url).rstrip("/").replace("http://", "ws://", 1) + "/api/v1/ws"
    async with asyncio.timeout(timeout), websockets.connect(ws_url, max_queue=None) as ws:
        await ws.send(json.dumps({"type": "subscribe", "run_id": run_id, "after_sequence": 0}))
        async for raw in ws:
            frame = json.loads(raw)
            if frame.get("type") == "error":
                raise RuntimeError(f"run {run_id}: {frame['error']['message']}")
            if frame.get("event_type") in ("run.succeeded", "run.failed"):
                break
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


async def node_hop_latency(client: httpx.AsyncClient, length: int) -> dict[str, float]:
    """Latency between consecutive node completions along a chain of no-op nodes."""
    flowchart_id = await _create(client, noop_chain(length))
    run_id = await _start(client, flowchart_id)
    run = await _wait(client, run_id, timeout=600)
    if run["status"] != "succeeded":
        raise RuntimeError(f"chain run ended {run['status']}")
    done = [
        datetime.fromisoformat(e["occurred_at"]).timestamp()
        for e in await _events(client, run_id)
        if e["type"] == "node.succeeded"
    ]
    hops = [(b - a) * 1000 for a, b in itertools.pairwise(done)]
    return {
        "hops": len(hops),
        "p50_ms": _percentile(hops, 0.5),
        "p99_ms": _percentile(hops, 0.99),
        "mean_ms": statistics.fmean(hops),
    }


async def concurrent_runs(client: httpx.AsyncClient, runs: int, length: int) -> dict[str, float]:
    """Node executions per second with ``runs`` runs of a ``length``-node chain in flight."""
    flowchart_id = await _create(client, noop_chain(length))
    started = time.perf_counter()
    run_ids = await asyncio.gather(*(_start(client, flowchart_id) for _ in range(runs)))
    finished = await asyncio.gather(*(_wait(client, r, timeout=900) for r in run_ids))
    elapsed = time.perf_counter() - started
    executions = sum(int(r["node_executions"]) for r in finished)
    return {
        "runs": runs,
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


async def run_all(state: StackState, *, chain: int, runs: int, run_length: int) -> dict[str, Any]:
    """Every figure, raw limits first."""
    nats_url = state.infra["nats"].url
    database_url = state.infra["postgres"].url
    results: dict[str, Any] = {
        "machine": {"cpus": psutil.cpu_count(), "memory_gib": psutil.virtual_memory().total / 2**30}
    }
    results["rss_idle_mb"] = service_rss_mb(state)
    results["raw"] = {
        "jetstream_publish_ack_per_s": await jetstream_publish_rate(nats_url),
        "jetstream_publish_ack_per_s_x16": await jetstream_publish_rate(nats_url, concurrency=16),
        "postgres_commits_per_s": await postgres_commit_rate(database_url),
        "postgres_commits_per_s_x8": await postgres_commit_rate(database_url, concurrency=8),
    }
    async with httpx.AsyncClient(base_url=state.gateway_url or "", timeout=60) as client:
        results["node_hop"] = await node_hop_latency(client, chain)
        results["concurrent"] = await concurrent_runs(client, runs, run_length)
    results["rss_after_mb"] = service_rss_mb(state)
    return results


def table(results: dict[str, Any]) -> str:
    """A human-readable table of the figures."""
    raw, hop, conc = results["raw"], results["node_hop"], results["concurrent"]
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
        (f"node hop p50 ({hop['hops']} hops)", f"{hop['p50_ms']:.2f} ms"),
        (f"node hop p99 ({hop['hops']} hops)", f"{hop['p99_ms']:.2f} ms"),
        (
            f"node executions/s ({conc['runs']} concurrent runs)",
            f"{conc['node_executions_per_s']:,.0f} /s "
            f"({conc['succeeded']}/{conc['runs']} succeeded)",
        ),
    ]
    for name, mb in sorted(results["rss_after_mb"].items()):
        rows.append(
            (
                f"RSS {name} (idle -> after)",
                f"{results['rss_idle_mb'].get(name, 0):.0f} -> {mb:.0f} MiB",
            )
        )
    width = max(len(r[0]) for r in rows)
    return "\n".join(f"{name.ljust(width)}  {value}" for name, value in rows)


def main(argv: list[str] | None = None) -> int:
    """``llmctl bench [--home DIR] [--chain N] [--runs N] [--run-length N] [--json-out FILE]``."""
    parser = argparse.ArgumentParser(prog="llmctl bench", description=__doc__)
    parser.add_argument("--home", default=".llmctl", help="stack home of a running `llmctl up`")
    parser.add_argument("--chain", type=int, default=200, help="no-op nodes in the latency chain")
    parser.add_argument("--runs", type=int, default=50, help="concurrent runs for throughput")
    parser.add_argument("--run-length", type=int, default=20, help="no-op nodes per concurrent run")
    parser.add_argument("--json-out", type=Path, help="also write the JSON figures to this file")
    args = parser.parse_args(argv)
    state = StackState.read(Path(args.home) / STATE_FILE)
    if state is None or state.phase != "running" or not state.gateway_url:
        print(f"llmctl bench: no running stack in {args.home}; start one with `llmctl up --detach`")
        return 1
    results = asyncio.run(
        run_all(state, chain=args.chain, runs=args.runs, run_length=args.run_length)
    )
    text = json.dumps(results, indent=2)
    print(text)
    print()
    print(table(results))
    if args.json_out:
        args.json_out.write_text(text + "\n")
    return 0
