"""The pure token engine: fan-in thresholds, earliest-token consumption, cycles, guards."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmctl_contracts.flowchart import FlowchartDefinition
from llmctl_orchestrator.engine import (
    EngineError,
    FlowchartGraph,
    RunState,
    activate_start,
    apply_routing,
)
from llmctl_orchestrator.engine.activation import completion, record_output, unconsumed_tokens


def graph(
    nodes: list[dict[str, Any]], connectors: list[tuple[str, str, str]], **extra: Any
) -> FlowchartGraph:
    doc = {
        "name": "t",
        "nodes": nodes,
        "connectors": [{"id": c, "source": s, "target": t} for c, s, t in connectors],
        **extra,
    }
    return FlowchartGraph.build(msgspec.convert(doc, FlowchartDefinition))


def task(node_id: str, **kw: Any) -> dict[str, Any]:
    return {"type": "task", "id": node_id, "prompt": "p", **kw}


JOIN = [
    {"type": "start", "id": "s"},
    task("a"),
    task("b"),
    task("c"),
]
JOIN_EDGES = [("sa", "s", "a"), ("sb", "s", "b"), ("sc", "s", "c")]


def join_graph(mode: dict[str, Any]) -> FlowchartGraph:
    return graph(
        [*JOIN, task("j", fan_in=mode)],
        [*JOIN_EDGES, ("aj", "a", "j"), ("bj", "b", "j"), ("cj", "c", "j")],
    )


def test_all_waits_for_every_parent() -> None:
    g, state = join_graph({"mode": "all"}), RunState()
    activate_start(state, g)
    assert apply_routing(state, g, "run-a", ["aj"]) == []
    assert apply_routing(state, g, "run-b", ["bj"]) == []
    [act] = apply_routing(state, g, "run-c", ["cj"])
    assert act.node_id == "j"
    assert [t.source_node_run_id for t in act.consumed] == ["run-a", "run-b", "run-c"]


def test_any_fires_per_token() -> None:
    g, state = join_graph({"mode": "any"}), RunState()
    first = apply_routing(state, g, "run-a", ["aj"])
    second = apply_routing(state, g, "run-b", ["bj"])
    assert [a.execution_index for a in first + second] == [0, 1]


def test_custom_two_consumes_earliest_tokens() -> None:
    g, state = join_graph({"mode": "custom", "count": 2}), RunState()
    assert apply_routing(state, g, "run-a", ["aj"]) == []
    [act] = apply_routing(state, g, "run-b", ["bj"])
    assert {t.source_node_id for t in act.consumed} == {"a", "b"}
    assert apply_routing(state, g, "run-c", ["cj"]) == []
    assert [t.connector_id for t in unconsumed_tokens(state)] == ["cj"]


def test_earliest_token_of_a_parent_is_consumed_first() -> None:
    g, state = join_graph({"mode": "all"}), RunState()
    apply_routing(state, g, "a1", ["aj"])
    apply_routing(state, g, "a2", ["aj"])
    apply_routing(state, g, "b1", ["bj"])
    [act] = apply_routing(state, g, "c1", ["cj"])
    assert [t.source_node_run_id for t in act.consumed] == ["a1", "b1", "c1"]
    assert [t.source_node_run_id for t in unconsumed_tokens(state)] == ["a2"]


def test_cycle_activates_again_with_new_index_until_guard() -> None:
    g = graph(
        [{"type": "start", "id": "s"}, task("x", fan_in={"mode": "any"})],
        [("sx", "s", "x"), ("xx", "x", "x")],
        limits={"max_node_executions": 3},
    )
    state = RunState()
    activate_start(state, g)
    [a0] = apply_routing(state, g, "s0", ["sx"])
    [a1] = apply_routing(state, g, "x0", ["xx"])
    assert (a0.execution_index, a1.execution_index) == (0, 1)
    with pytest.raises(EngineError, match="max node executions"):
        apply_routing(state, g, "x1", ["xx"])


def test_unknown_connector_fails_fast() -> None:
    g, state = join_graph({"mode": "all"}), RunState()
    with pytest.raises(EngineError, match="unknown connector"):
        apply_routing(state, g, "r", ["nope"])


def test_completion_quiescent_and_terminated() -> None:
    state = RunState(open_node_runs=["r1"])
    assert completion(state) is None
    state.open_node_runs.clear()
    assert completion(state) == "quiescent"
    state.terminated = True
    assert completion(state) == "terminated"


def test_outputs_are_forgotten_once_unreferenced() -> None:
    g, state = join_graph({"mode": "all"}), RunState()
    for node, run in (("a", "a1"), ("b", "b1"), ("c", "c1")):
        record_output(state, node, run, {"v": run})
    record_output(state, "a", "a0-old", {"v": 0})
    state.latest_by_node["a"] = "a1"
    apply_routing(state, g, "a1", ["aj"])
    assert "a0-old" not in state.outputs
    assert "a1" in state.outputs


@settings(max_examples=60, deadline=None)
@given(order=st.permutations(["aj", "bj", "cj"]), mode=st.sampled_from(["all", "any", "custom"]))
def test_activation_count_is_independent_of_completion_order(order: list[str], mode: str) -> None:
    policy: dict[str, Any] = {"mode": mode} | ({"count": 2} if mode == "custom" else {})
    g, state = join_graph(policy), RunState()
    activations = []
    for connector in order:
        activations += apply_routing(state, g, f"run-{connector}", [connector])
    expected = {"all": 1, "any": 3, "custom": 1}[mode]
    assert len(activations) == expected
    consumed = [t.connector_id for a in activations for t in a.consumed]
    assert len(consumed) == len(set(consumed))
    assert len(consumed) + len(unconsumed_tokens(state)) == 3
