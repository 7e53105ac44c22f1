"""The pure token engine: fan-in thresholds, earliest-token consumption, cycles, guards,
and rebuilding the state from its events."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmctl_contracts import MessageType
from llmctl_contracts.events import RunRewound
from llmctl_contracts.flowchart import FlowchartDefinition, RunLimits
from llmctl_orchestrator.coordinator import MAX_RETRY_DELAY_MS, retry_delay_ms
from llmctl_orchestrator.engine import (
    EngineError,
    FlowchartGraph,
    RunState,
    completion,
    effective_history,
    events_before,
    replay,
    rewound_state,
    start_activation,
    unconsumed_tokens,
)
from llmctl_orchestrator.engine.activation import HARD_EXECUTION_CAP
from llmctl_orchestrator.engine.context import build_context

if TYPE_CHECKING:
    from conftest import EngineDriver

    Driver = type[EngineDriver]
else:
    Driver = Any


def task(node_id: str, **kw: Any) -> dict[str, Any]:
    return {"type": "task", "id": node_id, "prompt": "p", **kw}


JOIN = [
    {"type": "start", "id": "s"},
    task("a"),
    task("b"),
    task("c"),
]
JOIN_EDGES = [("sa", "s", "a"), ("sb", "s", "b"), ("sc", "s", "c")]


def join_graph(graph_of: Any, mode: dict[str, Any]) -> FlowchartGraph:
    graph: FlowchartGraph = graph_of(
        [*JOIN, task("j", fan_in=mode)],
        [*JOIN_EDGES, ("aj", "a", "j"), ("bj", "b", "j"), ("cj", "c", "j")],
    )
    return graph


def engine(driver: Driver, graph_of: Any, mode: dict[str, Any]) -> EngineDriver:
    return driver(join_graph(graph_of, mode))


def test_all_waits_for_every_parent(driver: Driver, graph_of: Any) -> None:
    d = engine(driver, graph_of, {"mode": "all"})
    d.start()
    assert d.route("run-a", ["aj"]) == []
    assert d.route("run-b", ["bj"]) == []
    [act] = d.route("run-c", ["cj"])
    assert act.node_id == "j"
    assert [t.source_node_run_id for t in act.consumed] == ["run-a", "run-b", "run-c"]


def test_any_fires_per_token(driver: Driver, graph_of: Any) -> None:
    d = engine(driver, graph_of, {"mode": "any"})
    first = d.route("run-a", ["aj"])
    second = d.route("run-b", ["bj"])
    assert [a.execution_index for a in first + second] == [0, 1]


def test_custom_two_consumes_earliest_tokens(driver: Driver, graph_of: Any) -> None:
    d = engine(driver, graph_of, {"mode": "custom", "count": 2})
    assert d.route("run-a", ["aj"]) == []
    [act] = d.route("run-b", ["bj"])
    assert {t.source_node_id for t in act.consumed} == {"a", "b"}
    assert d.route("run-c", ["cj"]) == []
    assert [t.connector_id for t in unconsumed_tokens(d.state)] == ["cj"]


def test_earliest_token_of_a_parent_is_consumed_first(driver: Driver, graph_of: Any) -> None:
    d = engine(driver, graph_of, {"mode": "all"})
    d.route("a1", ["aj"])
    d.route("a2", ["aj"])
    d.route("b1", ["bj"])
    [act] = d.route("c1", ["cj"])
    assert [t.source_node_run_id for t in act.consumed] == ["a1", "b1", "c1"]
    assert [t.source_node_run_id for t in unconsumed_tokens(d.state)] == ["a2"]


def test_cycle_activates_again_with_new_index_until_guard(driver: Driver, graph_of: Any) -> None:
    g = graph_of(
        [{"type": "start", "id": "s"}, task("x", fan_in={"mode": "any"})],
        [("sx", "s", "x"), ("xx", "x", "x")],
        limits={"max_node_executions": 3},
    )
    d = driver(g)
    d.start()
    [a0] = d.route("s#0", ["sx"])
    [a1] = d.route("x#0", ["xx"])
    assert (a0.execution_index, a1.execution_index) == (0, 1)
    with pytest.raises(EngineError, match="max node executions"):
        d.route("x#1", ["xx"])


def test_unknown_connector_fails_fast(driver: Driver, graph_of: Any) -> None:
    d = engine(driver, graph_of, {"mode": "all"})
    with pytest.raises(EngineError, match="unknown connector"):
        d.route("r", ["nope"])


def test_completion_quiescent_and_terminated() -> None:
    state = RunState(open_node_runs=["r1"])
    assert completion(state) is None
    state.open_node_runs.clear()
    assert completion(state) == "quiescent"
    state.terminated = True
    assert completion(state) == "terminated"


def test_outputs_are_kept_while_referenced_then_forgotten(driver: Driver, graph_of: Any) -> None:
    """A consumed token's output reaches the activation's context even when its source is no
    longer the node's latest run; it is forgotten once nothing references it."""
    d = engine(driver, graph_of, {"mode": "all"})
    d.start()
    [sa] = d.route("s#0", ["sa"])
    a0 = "a#0"
    d.succeed(a0, {"v": "old"})
    d.route(a0, ["aj"])
    [sa2] = d.route("s-again", ["sa"])  # a runs again before b and c finish
    d.succeed("a#1", {"v": "new"})
    d.route("a#1", ["aj"])
    assert d.state.latest_by_node["a"] == "a#1"
    assert d.state.outputs[a0] == {"v": "old"}  # its token still waits at the join
    d.route("b1", ["bj"])
    [join] = d.route("c1", ["cj"])
    assert join.consumed[0].source_node_run_id == a0
    assert a0 not in d.state.outputs  # consumed and not the latest: forgotten
    assert (sa.execution_index, sa2.execution_index) == (0, 1)


def test_replay_rebuilds_the_live_state(driver: Driver, graph_of: Any) -> None:
    d = engine(driver, graph_of, {"mode": "custom", "count": 2})
    d.start()
    d.succeed("s#0")
    for act in d.route("s#0", ["sa", "sb", "sc"]):
        d.succeed(f"{act.node_id}#0")
    d.route("a#0", ["aj"])
    d.route("c#0", ["cj"])
    d.fail("b#0")
    rebuilt = replay(d.graph, d.events)
    assert rebuilt == d.state
    assert rebuilt.open_node_runs == ["j#0"]


@settings(max_examples=60, deadline=None)
@given(order=st.permutations(["aj", "bj", "cj"]), mode=st.sampled_from(["all", "any", "custom"]))
def test_activation_count_is_independent_of_completion_order(
    driver: Driver, graph_of: Any, order: list[str], mode: str
) -> None:
    policy: dict[str, Any] = {"mode": mode} | ({"count": 2} if mode == "custom" else {})
    d = engine(driver, graph_of, policy)
    activations = []
    for connector in order:
        activations += d.route(f"run-{connector}", [connector])
    expected = {"all": 1, "any": 3, "custom": 1}[mode]
    assert len(activations) == expected
    consumed = [t.connector_id for a in activations for t in a.consumed]
    assert len(consumed) == len(set(consumed))
    assert len(consumed) + len(unconsumed_tokens(d.state)) == 3
    assert replay(d.graph, d.events) == d.state


def test_replay_applies_a_rewind_like_the_live_path(driver: Driver, graph_of: Any) -> None:
    """Rewinding to b's activation restores the tokens b consumed; counters keep counting."""
    d = engine(driver, graph_of, {"mode": "all"})
    d.start()
    d.succeed("s#0")
    d.route("s#0", ["sa", "sb", "sc"])
    for node in "abc":
        d.succeed(f"{node}#0")
        d.route(f"{node}#0", [f"{node}j"])
    assert d.state.execution_counts["j"] == 1
    history = effective_history(d.events)
    queued_b = next(
        e for e in history if e.type == MessageType.NODE_QUEUED and e.payload.node_id == "b"
    )
    before = events_before(history, queued_b.sequence)
    d.state = rewound_state(d.graph, before, d.state)
    d.emit(
        MessageType.RUN_REWOUND,
        RunRewound(
            node_run_id="b#0",
            node_id="b",
            from_sequence=queued_b.sequence,
            to_sequence=len(d.events),
            request_id="r1",
        ),
    )
    assert "b" in d.state.tokens  # the token b consumed is back
    assert d.state.execution_counts["j"] == 1  # counters survive the rewind
    assert replay(d.graph, d.events) == d.state
    rewound = d.events[-1].payload
    assert (rewound.from_sequence, rewound.to_sequence) == (queued_b.sequence, len(d.events) - 1)
    assert effective_history(d.events)[-2].sequence == queued_b.sequence - 1


def test_retry_backoff_doubles_and_is_capped() -> None:
    assert [retry_delay_ms(250, n) for n in (1, 2, 3)] == [250, 500, 1000]
    assert retry_delay_ms(0, 5) == 0
    assert retry_delay_ms(60_000, 10) == MAX_RETRY_DELAY_MS


def test_context_holds_the_latest_output_of_each_dotted_source_that_ran(driver: Driver) -> None:
    """A dotted source's latest node run (a ran twice) is in the context under its node id; a
    dotted source that never ran has no entry; dotted connectors consume and add no tokens."""
    definition = msgspec.convert(
        {
            "name": "t",
            "nodes": [
                {"type": "start", "id": "s"},
                task("a", fan_in={"mode": "any"}),
                task("m"),
                task("b"),
                task("never"),
            ],
            "connectors": [
                {"id": "sa", "source": "s", "target": "a"},
                {"id": "aa", "source": "a", "target": "a"},
                {"id": "am", "source": "a", "target": "m"},
                {"id": "mb", "source": "m", "target": "b"},
                {"id": "sn", "source": "s", "target": "never"},
                {"id": "ab", "source": "a", "target": "b", "kind": "dotted"},
                {"id": "nb", "source": "never", "target": "b", "kind": "dotted"},
            ],
        },
        FlowchartDefinition,
    )
    d = driver(FlowchartGraph.build(definition))
    d.start()
    d.succeed("s#0")
    [a0] = d.route("s#0", ["sa"])
    d.succeed("a#0", {"v": 1})
    [a1] = d.route("a#0", ["aa"])
    d.succeed("a#1", {"v": 2})
    [m0] = d.route("a#1", ["am"])
    d.succeed("m#0", {"from": "m"})
    [b0] = d.route("m#0", ["mb"])
    assert (a0.execution_index, a1.execution_index, m0.node_id, b0.node_id) == (0, 1, "m", "b")
    context = build_context(d.state, d.graph, b0, run={"id": "r"}, node_run_id="b#0")
    assert context["dotted_upstream_nodes"] == {
        "a": {"node_run_id": "a#1", "connector_id": "ab", "output": {"v": 2}}
    }
    assert context["upstream_nodes"] == [
        {"node_id": "m", "node_run_id": "m#0", "connector_id": "mb", "output": {"from": "m"}}
    ]
    assert context["latest_upstream"] == context["upstream_nodes"][0]
    assert "b" not in d.state.tokens or not any(d.state.tokens["b"].values())


def test_execution_guard_uses_the_hard_cap_without_a_flowchart_limit(graph_of: Any) -> None:
    graph = graph_of([{"type": "start", "id": "s"}], [])
    assert graph.definition.limits.max_node_executions is None
    start_activation(RunState(node_executions=HARD_EXECUTION_CAP - 1), graph)
    with pytest.raises(EngineError, match=r"max node executions \(10000\)"):
        start_activation(RunState(node_executions=HARD_EXECUTION_CAP), graph)
    # a limit above the cap (built directly: the schema refuses one) is held to the cap
    over = FlowchartGraph.build(
        msgspec.structs.replace(
            graph.definition, limits=RunLimits(max_node_executions=HARD_EXECUTION_CAP * 2)
        )
    )
    with pytest.raises(EngineError, match=r"max node executions \(10000\)"):
        start_activation(RunState(node_executions=HARD_EXECUTION_CAP), over)
    assert HARD_EXECUTION_CAP == 10_000
