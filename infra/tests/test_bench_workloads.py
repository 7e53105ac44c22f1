"""The benchmark's flowchart generators: valid, the intended shape, and correctly sized."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from llmctl_contracts.codec import decode_strict
from llmctl_contracts.flowchart import (
    DecisionNode,
    FanInMode,
    FlowchartDefinition,
    Predicate,
    PredicateOp,
    RunLimits,
)
from llmctl_infra.bench import runner
from llmctl_infra.bench.workloads import (
    HARD_EXECUTION_CAP,
    MAX_FAN_OUT,
    MAX_PARALLEL_NODES,
    counted_loop,
    fan_out_fan_in,
    loop_iterations,
    noop_chain,
)


def _decode(flowchart: dict[str, Any]) -> FlowchartDefinition:
    """Decode as the gateway does, then run the orchestrator's save-time validation."""
    definition = decode_strict(json.dumps(flowchart), FlowchartDefinition, what="flowchart")
    validation = pytest.importorskip("llmctl_orchestrator.validation")
    assert validation.validate_flowchart(definition) == []
    return definition


def _decision(definition: FlowchartDefinition, node_id: str) -> DecisionNode:
    node = next(n for n in definition.nodes if n.id == node_id)
    assert isinstance(node, DecisionNode)
    return node


def _evaluate(predicate: Predicate, context: dict[str, Any]) -> bool:
    """The router's own predicate evaluation."""
    predicates = pytest.importorskip("llmctl_router.predicates")
    return bool(predicates.evaluate(predicate, context))


def test_noop_chain_is_a_valid_chain() -> None:
    definition = _decode(noop_chain(5))
    assert [n.id for n in definition.nodes] == ["start", "n1", "n2", "n3", "n4", "n5", "end"]
    assert len(definition.connectors) == 6


def test_fan_out_fan_in_has_width_branches_into_one_all_join() -> None:
    definition = _decode(fan_out_fan_in(1000))
    assert len(definition.nodes) == 1003
    assert len(definition.connectors) == 2001
    branches = [n for n in definition.nodes if n.id.startswith("f")]
    assert len(branches) == 1000
    assert sum(c.source == "start" for c in definition.connectors) == 1000
    join = _decision(definition, "join")
    assert join.fan_in.mode is FanInMode.ALL
    assert {c.source for c in definition.connectors if c.target == "join"} == {
        n.id for n in branches
    }
    outgoing = {c.source: c.id for c in definition.connectors}
    for node in [*branches, join]:
        assert isinstance(node, DecisionNode)
        [condition] = node.conditions
        assert condition.connector_id == outgoing[node.id]
        assert condition.predicate == Predicate(op=PredicateOp.EXISTS, path="run.id")
    assert definition.limits.max_node_executions == 1003
    assert definition.limits.max_parallel_nodes == MAX_PARALLEL_NODES


def test_max_parallel_nodes_is_the_schema_maximum() -> None:
    with pytest.raises(Exception, match="1000"):
        decode_strict(
            json.dumps({"max_parallel_nodes": MAX_PARALLEL_NODES + 1}), RunLimits, what="limits"
        )


def test_fan_out_width_is_bounded_by_the_node_limit() -> None:
    assert len(_decode(fan_out_fan_in(MAX_FAN_OUT)).nodes) == 5000
    for width in (0, MAX_FAN_OUT + 1):
        with pytest.raises(ValueError, match="fan-out width"):
            fan_out_fan_in(width)


def test_loop_shape_and_fan_in() -> None:
    definition = _decode(counted_loop(10_000))
    assert [n.id for n in definition.nodes] == ["start", "a", "loop", "end"]
    # `a` has two solid parents (start and loop): it must fire on either one
    assert _decision(definition, "a").fan_in.mode is FanInMode.ANY
    targets = {c.id: c.target for c in definition.connectors}
    assert {
        c.connector_id: targets[c.connector_id] for c in _decision(definition, "loop").conditions
    } == {
        "back": "a",
        "exit": "end",
    }
    assert definition.limits.max_node_executions == HARD_EXECUTION_CAP


def test_loop_conditions_are_mutually_exclusive() -> None:
    loop = _decision(_decode(counted_loop(10_000)), "loop")
    last = loop_iterations(10_000) - 1
    for index in [*range(0, 50), *range(last - 50, last + 50), 10_000]:
        context = {"run": {"id": "r"}, "node": {"execution_index": index}, "output": {}}
        fired = [c.connector_id for c in loop.conditions if _evaluate(c.predicate, context)]
        assert fired == (["back"] if index < last else ["exit"]), index


@pytest.mark.parametrize("executions", [4, 5, 100, 9_998, 9_999, 10_000, 25_000])
def test_loop_makes_at_most_the_requested_executions(executions: int) -> None:
    """Walk the loop as the engine would, routing with the router's evaluation."""
    definition = _decode(counted_loop(executions))
    loop = _decision(definition, "loop")
    targets = {c.id: c.target for c in definition.connectors}
    made, index = 1, 0  # start
    while True:
        made += 2  # a, then loop with its execution index
        context = {"run": {"id": "r"}, "node": {"execution_index": index}, "output": {}}
        [fired] = [c.connector_id for c in loop.conditions if _evaluate(c.predicate, context)]
        if targets[fired] == "end":
            made += 1
            break
        index += 1
    assert made == definition.limits.max_node_executions
    assert min(executions, HARD_EXECUTION_CAP) - 1 <= made <= min(executions, HARD_EXECUTION_CAP)


def test_loop_needs_room_for_one_pass() -> None:
    with pytest.raises(ValueError, match="at least 4"):
        counted_loop(3)


def test_bench_rejects_out_of_range_sizes_before_looking_for_a_stack(tmp_path: Path) -> None:
    for argv in (
        ["--loop", "10001"],
        ["--loop", "3"],
        ["--fanout", "-1"],
        ["--fanout", "4998"],
        ["--runs", "50,-1"],
        ["--runs", "fifty"],
        ["--runs-follow", "polling"],
    ):
        with pytest.raises(SystemExit) as exited:
            runner.main([*argv, "--home", str(tmp_path)])
        assert exited.value.code == 2
    assert runner.main(["--home", str(tmp_path)]) == 1  # sizes fine, no stack


def test_table_shows_the_new_workloads() -> None:
    hop = {"hops": 9_998, "p50_ms": 10.0, "p99_ms": 20.0, "mean_ms": 11.0}
    results = {
        "raw": {
            "jetstream_publish_ack_per_s": 3000.0,
            "jetstream_publish_ack_per_s_x16": 16000.0,
            "postgres_commits_per_s": 1400.0,
            "postgres_commits_per_s_x8": 3000.0,
            "durable_hop": {"hops": 300, "p50_ms": 1.8, "p99_ms": 8.4},
        },
        "node_hop": hop,
        "concurrent": [
            {"runs": 50, "follow": "websocket", "succeeded": 50, "node_executions_per_s": 90.0},
            {"runs": 200, "follow": "nats", "succeeded": 199, "node_executions_per_s": 1234.0},
        ],
        "fan_out": {
            "width": 1000,
            "wall_s": 12.5,
            "node_executions": 1003,
            "node_executions_per_s": 80.2,
            "node_executions_per_s_in_run": 85.0,
            "fan_out_to_fan_in_ms": 11_000.0,
            "last_branch_done_ms": 900.0,
            "first_branch_routed_ms": 1000.0,
            "last_branch_routed_ms": 10_900.0,
            "branch_routed_gap_p50_ms": 9.9,
            "orchestrator_rss_mb": {"before": 91.0, "after": 95.0},
        },
        "loop": {
            "node_executions": 10_000,
            "wall_s": 100.0,
            "node_executions_per_s": 100.0,
            "hop": hop,
            "hop_window": 1000,
            "hop_first": hop,
            "hop_last": hop,
            "orchestrator_rss_mb": {"before": 95.0, "peak": 99.0, "after": 96.0},
            "cpu_ms_per_execution": {"orchestrator": 3.0, "postgres": 1.25, "total": 4.25},
        },
        "rss_idle_mb": {"orchestrator": 90.0},
        "rss_after_mb": {"orchestrator": 96.0},
    }
    text = " ".join(runner.table(results).split())  # the column width depends on the labels
    assert "node executions/s (50 concurrent runs, ends via websocket) 90 /s (50/50" in text
    assert "node executions/s (200 concurrent runs, ends via nats) 1,234 /s (199/200" in text
    assert "fan-out/fan-in, 1,000 branches: fan-out -> fan-in 11,000 ms" in text
    assert "loop, 10,000 executions: orchestrator RSS" in text
    assert "900 ms / 1,000-10,900 ms (9.9 ms apart)" in text
    assert "95 -> 96 MiB (peak 99)" in text
    assert "hop p50 first/last 1,000" in text
    assert "raw durable hop p50 / p99 (2 commits, 2 JetStream hops) 1.80 / 8.40 ms" in text
    cpu_row = (
        "loop, 10,000 executions: CPU per execution orchestrator 3.00 + postgres 1.25 = 4.25 ms"
    )
    assert cpu_row in text
    assert "fan-out/fan-in, 1,000 branches: CPU per execution" not in text  # not measured
    del results["fan_out"], results["loop"]
    assert "loop" not in runner.table(results)
    del results["node_hop"], results["concurrent"]  # --chain 0 --runs 0
    text = runner.table(results)
    assert "node hop" not in text
    assert "concurrent runs" not in text
    assert "raw durable hop" in text


def test_hop_stats_are_gaps_between_completions() -> None:
    stats = runner._hop_stats([0.0, 0.010, 0.030, 0.060])
    assert stats["hops"] == 3
    assert stats["p50_ms"] == pytest.approx(20.0)
    assert stats["mean_ms"] == pytest.approx(20.0)
