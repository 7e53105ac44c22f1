"""Model list requests per second through the gateway, next to raw NATS request/reply.

``GET /api/v1/models`` is a gateway -> models service request/reply over NATS plus one
paginated query (count + page) in Postgres; the raw figure is a core-NATS request/reply with a
trivial responder, measured in the same run with the same concurrency.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from llmctl_libs.bus import connect_raw

from .relay import percentile

__all__ = ["model_list_rate", "nats_request_rate", "seed_models"]

SEED_PREFIX = "bench-model-"


async def seed_models(client: httpx.AsyncClient, count: int) -> int:
    """Make sure ``count`` benchmark models exist; returns how many it created (a rerun finds
    them by name: 409, nothing new)."""
    created = 0
    for i in range(count):
        name = f"{SEED_PREFIX}{i:04d}"
        response = await client.post(
            "/api/v1/models",
            json={
                "name": name,
                "provider": "vllm",
                "provider_model_id": f"bench/{i}",
                "capability_tags": ["bench", "chat" if i % 2 else "embed"],
                "settings": {"mode": "local"},
            },
        )
        if response.status_code in (200, 201):
            created += 1
        elif response.status_code != 409:  # 409: it exists from an earlier run
            response.raise_for_status()
    return created


async def model_list_rate(
    client: httpx.AsyncClient, *, seconds: float, concurrency: int
) -> dict[str, Any]:
    """Requests/s and latency of ``GET /api/v1/models`` (search + sort + first page)."""
    latencies: list[float] = []
    failures = 0
    deadline = time.perf_counter() + seconds
    params: dict[str, str | int] = {"q": SEED_PREFIX, "sort": "name", "page_size": 25}

    async def worker() -> None:
        nonlocal failures
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            response = await client.get("/api/v1/models", params=params)
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                failures += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return {
        "concurrency": concurrency,
        "requests": len(latencies),
        "failures": failures,
        "requests_per_s": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 0.5),
        "p99_ms": percentile(latencies, 0.99),
    }


async def nats_request_rate(nats_url: str, *, seconds: float, concurrency: int) -> float:
    """Core-NATS request/reply round trips per second against a trivial responder."""
    nc = await connect_raw(nats_url)
    subject = "bench.raw.request"

    async def respond(msg: Any) -> None:
        await msg.respond(b'{"ok":true}')

    subscription = await nc.subscribe(subject, cb=respond)
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await nc.request(subject, b"{}", timeout=5)
            done += 1

    try:
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    finally:
        await subscription.unsubscribe()
        await nc.close()
    return done / elapsed
