"""`llmctl bench`'s model list workload at a small scale, against a real gateway and models
service: seeding is idempotent and every request is counted and timed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmctl_infra.bench.model_list import (
    SEED_PREFIX,
    model_list_rate,
    nats_request_rate,
    seed_models,
)

if TYPE_CHECKING:  # the fixture's type; conftest is not importable under importlib mode
    from conftest import ApiStack


async def test_model_list_benchmark_seeds_once_and_times_every_request(api_stack: ApiStack) -> None:
    assert await seed_models(api_stack.http, 30) == 30
    assert await seed_models(api_stack.http, 30) == 0  # a rerun finds them all
    listed = (await api_stack.http.get("/api/v1/models", params={"q": SEED_PREFIX})).json()
    assert listed["data"]["total"] == 30
    assert len(listed["data"]["items"]) == 25  # the default page size

    figures = await model_list_rate(api_stack.http, seconds=1.0, concurrency=2)
    assert figures["failures"] == 0
    assert figures["requests"] > 0
    assert figures["requests_per_s"] > 0
    assert 0 < figures["p50_ms"] <= figures["p99_ms"]
    assert await nats_request_rate(api_stack.nats_url, seconds=0.5, concurrency=2) > 0
