"""`llmctl bench`'s run workloads at a small scale against a whole stack: every run is counted
once, however the client learns that it ended."""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmctl_infra.bench.runner import FOLLOW_MODES, concurrent_runs, node_hop_latency

if TYPE_CHECKING:  # the fixture's type; conftest is not importable under importlib mode
    from conftest import E2EStack


async def test_throughput_workload_sees_every_run_end_both_ways(e2e: E2EStack) -> None:
    for follow in FOLLOW_MODES:
        figures = await concurrent_runs(
            e2e.http, 4, 3, follow=follow, nats_url=e2e.services.endpoints.nats_url
        )
        assert (figures["follow"], figures["runs"], figures["succeeded"]) == (follow, 4, 4)
        assert figures["node_executions"] == 4 * 5  # start, three no-op decisions, end
        assert figures["node_executions_per_s"] == figures["node_executions"] / figures["seconds"]


async def test_chain_workload_measures_one_hop_per_node(e2e: E2EStack) -> None:
    figures = await node_hop_latency(e2e.http, 5)
    assert figures["node_executions"] == 7
    assert figures["hops"] == 6  # between the seven completions
    assert 0 < figures["p50_ms"] <= figures["p99_ms"]
