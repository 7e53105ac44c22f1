"""Fan-in activation and run completion: pure reads of RunState (``evolve`` applies them)."""

from __future__ import annotations

from dataclasses import dataclass

from llmctl_contracts.events import TokenSnapshot

from .graph import FlowchartGraph
from .state import RunState, Token

__all__ = [
    "HARD_EXECUTION_CAP",
    "Activation",
    "EngineError",
    "completion",
    "fired_targets",
    "next_activation",
    "start_activation",
    "unconsumed_tokens",
]

HARD_EXECUTION_CAP = 10_000


class EngineError(Exception):
    """The run cannot continue (guard exceeded, unknown connector)."""


@dataclass(frozen=True, slots=True)
class Activation:
    """One new node run: which node, its execution index, the tokens it consumes."""

    node_id: str
    execution_index: int
    consumed: tuple[Token, ...]


def _check_guard(state: RunState, graph: FlowchartGraph) -> None:
    limit = min(
        graph.definition.limits.max_node_executions or HARD_EXECUTION_CAP, HARD_EXECUTION_CAP
    )
    if state.node_executions >= limit:
        raise EngineError(f"run exceeded max node executions ({limit})")


def start_activation(state: RunState, graph: FlowchartGraph) -> Activation:
    """The run's first activation: the start node, consuming nothing."""
    _check_guard(state, graph)
    start = graph.start.id
    return Activation(start, state.execution_counts.get(start, 0), ())


def fired_targets(graph: FlowchartGraph, connector_ids: list[str]) -> list[str]:
    """Target nodes of fired connectors, in firing order, each once.

    Raises:
        EngineError: a connector id is not in the flowchart.
    """
    targets: list[str] = []
    for connector_id in connector_ids:
        connector = graph.connectors.get(connector_id)
        if connector is None:
            raise EngineError(f"unknown connector {connector_id!r}")
        if connector.target not in targets:
            targets.append(connector.target)
    return targets


def next_activation(state: RunState, graph: FlowchartGraph, target: str) -> Activation | None:
    """The activation of ``target`` its queued tokens allow now, if any (state is not changed).

    A node with threshold t activates when t distinct solid parents hold a token; it consumes
    the earliest token of each of the t parents whose tokens are oldest. Recording the
    activation (``node.queued``) consumes them, so calling again finds the next one.

    Raises:
        EngineError: the run's max node executions guard would be exceeded.
    """
    holding = [queue for queue in state.tokens.get(target, {}).values() if queue]
    need = graph.threshold(target)
    if need == 0 or len(holding) < need:
        return None
    chosen = sorted(holding, key=lambda queue: queue[0].seq)[:need]
    consumed = tuple(sorted((queue[0] for queue in chosen), key=lambda t: t.seq))
    _check_guard(state, graph)
    return Activation(target, state.execution_counts.get(target, 0), consumed)


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
