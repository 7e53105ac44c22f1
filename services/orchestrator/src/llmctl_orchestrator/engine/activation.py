"""Token placement, fan-in activation and run completion. Pure functions over RunState."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from llmctl_contracts.events import TokenSnapshot

from .graph import FlowchartGraph
from .state import RunState, Token

__all__ = [
    "HARD_EXECUTION_CAP",
    "Activation",
    "EngineError",
    "activate_start",
    "apply_routing",
    "completion",
    "record_output",
]

HARD_EXECUTION_CAP = 10_000


class EngineError(Exception):
    """The run cannot continue (guard exceeded, unknown connector)."""


@dataclass(frozen=True, slots=True)
class Activation:
    """One new node run: which node, its execution index, the tokens it consumed."""

    node_id: str
    execution_index: int
    consumed: tuple[Token, ...]


def _new_activation(
    state: RunState, graph: FlowchartGraph, node_id: str, consumed: tuple[Token, ...]
) -> Activation:
    limit = graph.definition.limits.max_node_executions or HARD_EXECUTION_CAP
    if state.node_executions >= min(limit, HARD_EXECUTION_CAP):
        raise EngineError(f"run exceeded max node executions ({min(limit, HARD_EXECUTION_CAP)})")
    index = state.execution_counts.get(node_id, 0)
    state.execution_counts[node_id] = index + 1
    state.node_executions += 1
    return Activation(node_id=node_id, execution_index=index, consumed=consumed)


def activate_start(state: RunState, graph: FlowchartGraph) -> Activation:
    """The run's first activation: the start node, consuming nothing."""
    return _new_activation(state, graph, graph.start.id, ())


def record_output(state: RunState, node_id: str, node_run_id: str, output: dict[str, Any]) -> None:
    """Remember a succeeded node run's output for tokens and dotted readers."""
    state.outputs[node_run_id] = output
    state.latest_by_node[node_id] = node_run_id


def apply_routing(
    state: RunState,
    graph: FlowchartGraph,
    node_run_id: str,
    fired_connector_ids: list[str],
) -> list[Activation]:
    """Put a token on each fired connector's target, then activate every node that is ready.

    A node with threshold t activates when t distinct solid parents hold a token; it consumes
    the earliest token of each of the t parents whose tokens are oldest. A node may activate
    several times if enough tokens are queued.
    """
    if node_run_id in state.open_node_runs:
        state.open_node_runs.remove(node_run_id)
    targets: list[str] = []
    for connector_id in fired_connector_ids:
        connector = graph.connectors.get(connector_id)
        if connector is None:
            raise EngineError(f"unknown connector {connector_id!r}")
        state.token_seq += 1
        token = Token(
            seq=state.token_seq,
            connector_id=connector_id,
            source_node_id=connector.source,
            source_node_run_id=node_run_id,
        )
        state.tokens.setdefault(connector.target, {}).setdefault(connector.source, []).append(token)
        if connector.target not in targets:
            targets.append(connector.target)
    activations: list[Activation] = []
    for target in targets:
        while (consumed := _take_ready(state, graph, target)) is not None:
            activations.append(_new_activation(state, graph, target, consumed))
    _forget_unreferenced_outputs(state)
    return activations


def _take_ready(state: RunState, graph: FlowchartGraph, target: str) -> tuple[Token, ...] | None:
    by_parent = state.tokens.get(target, {})
    holding = [queue for queue in by_parent.values() if queue]
    need = graph.threshold(target)
    if need == 0 or len(holding) < need:
        return None
    chosen = sorted(holding, key=lambda queue: queue[0].seq)[:need]
    consumed = tuple(sorted((queue.pop(0) for queue in chosen), key=lambda t: t.seq))
    return consumed


def _forget_unreferenced_outputs(state: RunState) -> None:
    keep = set(state.latest_by_node.values()) | set(state.open_node_runs)
    for queues in state.tokens.values():
        for queue in queues.values():
            keep.update(t.source_node_run_id for t in queue)
    for node_run_id in list(state.outputs):
        if node_run_id not in keep:
            del state.outputs[node_run_id]


def completion(state: RunState) -> str | None:
    """``terminated`` or ``quiescent`` when the run is complete, else ``None``."""
    if state.terminated:
        return "terminated"
    if not state.open_node_runs:
        return "quiescent"
    return None


def unconsumed_tokens(state: RunState) -> list[TokenSnapshot]:
    """Tokens still waiting on a join when the run ended."""
    return [
        TokenSnapshot(
            connector_id=t.connector_id,
            target_node_id=target,
            source_node_run_id=t.source_node_run_id,
        )
        for target, queues in state.tokens.items()
        for queue in queues.values()
        for t in queue
    ]
