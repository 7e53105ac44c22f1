"""``evolve``: apply one run event to RunState. The only code that changes RunState.

The orchestrator applies each event as it emits it (``RunWriter.emit``), and ``replay``
folds a stored event history the same way, so the saved state can always be rebuilt.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from llmctl_contracts import MessageType
from llmctl_contracts.events import (
    NodeDispatched,
    NodeFailed,
    NodeQueued,
    NodeRequeued,
    NodeRouted,
    NodeSkipped,
    NodeSucceeded,
    RunControlled,
    RunFailed,
    RunSucceeded,
)

from .graph import FlowchartGraph
from .state import RunState, Token

__all__ = ["evolve"]

_REVIVING = frozenset({"retry", "skip", "rewind"})


def _drop(items: list[str], item: str) -> None:
    if item in items:
        items.remove(item)


def _close(state: RunState, node_run_id: str) -> None:
    """The node run is no longer open (finished and routed, failed, or cancelled)."""
    _drop(state.open_node_runs, node_run_id)
    _drop(state.ready, node_run_id)
    _drop(state.in_flight, node_run_id)


def _forget_unreferenced_outputs(state: RunState) -> None:
    keep = set(state.latest_by_node.values()) | set(state.open_node_runs)
    for queues in state.tokens.values():
        for queue in queues.values():
            keep.update(t.source_node_run_id for t in queue)
    for node_run_id in [r for r in state.outputs if r not in keep]:
        del state.outputs[node_run_id]


def _queued(state: RunState, graph: FlowchartGraph, event: NodeQueued) -> None:
    counts = state.execution_counts
    counts[event.node_id] = max(counts.get(event.node_id, 0), event.execution_index + 1)
    state.node_executions += 1
    by_source = state.tokens.get(event.node_id, {})
    for connector_id in event.consumed_connector_ids:
        source = graph.connectors[connector_id].source
        queue = by_source[source]
        queue.pop(next(i for i, t in enumerate(queue) if t.connector_id == connector_id))
        if not queue:
            del by_source[source]
    if not by_source:
        state.tokens.pop(event.node_id, None)
    state.open_node_runs.append(event.node_run_id)
    state.ready.append(event.node_run_id)
    _forget_unreferenced_outputs(state)


def _requeued(state: RunState, _graph: FlowchartGraph, event: NodeRequeued) -> None:
    if event.node_run_id not in state.open_node_runs:
        state.open_node_runs.append(event.node_run_id)
    _drop(state.in_flight, event.node_run_id)
    if event.node_run_id not in state.ready:
        state.ready.append(event.node_run_id)
    state.attempts_before[event.node_run_id] = event.attempts


def _dispatched(state: RunState, _graph: FlowchartGraph, event: NodeDispatched) -> None:
    _drop(state.ready, event.node_run_id)
    if event.node_run_id not in state.in_flight:
        state.in_flight.append(event.node_run_id)


def _succeeded(state: RunState, _graph: FlowchartGraph, event: NodeSucceeded) -> None:
    _drop(state.ready, event.node_run_id)
    _drop(state.in_flight, event.node_run_id)
    state.outputs[event.node_run_id] = event.output
    state.latest_by_node[event.node_id] = event.node_run_id
    _forget_unreferenced_outputs(state)  # the node's previous latest output may be unneeded now


def _skipped(state: RunState, _graph: FlowchartGraph, event: NodeSkipped) -> None:
    if event.node_run_id not in state.open_node_runs:
        state.open_node_runs.append(event.node_run_id)  # a failed node run, skipped
    _drop(state.ready, event.node_run_id)
    _drop(state.in_flight, event.node_run_id)
    state.outputs[event.node_run_id] = event.output


def _failed(state: RunState, _graph: FlowchartGraph, event: NodeFailed) -> None:
    _close(state, event.node_run_id)
    _forget_unreferenced_outputs(state)


def _routed(state: RunState, graph: FlowchartGraph, event: NodeRouted) -> None:
    _close(state, event.node_run_id)
    routing = event.routing_state
    if routing.terminate_run:
        state.terminated = True
    for connector_id in routing.matched_connector_ids:
        connector = graph.connectors.get(connector_id)
        if connector is None:
            continue  # the orchestrator fails the run on an unknown connector
        state.token_seq += 1
        token = Token(
            seq=state.token_seq,
            connector_id=connector_id,
            source_node_id=connector.source,
            source_node_run_id=event.node_run_id,
        )
        state.tokens.setdefault(connector.target, {}).setdefault(connector.source, []).append(token)
    _forget_unreferenced_outputs(state)


def _run_failed(state: RunState, _graph: FlowchartGraph, event: RunFailed) -> None:
    for node_run_id in event.cancelled_node_run_ids:
        _close(state, node_run_id)
    state.interrupted = list(event.cancelled_node_run_ids)
    state.failed_node_run_id = event.failed_node_run_id


def _run_succeeded(state: RunState, _graph: FlowchartGraph, event: RunSucceeded) -> None:
    for node_run_id in event.cancelled_node_run_ids:
        _close(state, node_run_id)


def _controlled(state: RunState, _graph: FlowchartGraph, event: RunControlled) -> None:
    if event.action == "pause":
        state.pause_request_id = event.request_id
    elif event.action in ("resume", "cancel"):
        state.pause_request_id = None
    if event.action == "cancel":
        state.open_node_runs, state.ready, state.in_flight = [], [], []
        _forget_unreferenced_outputs(state)
    elif event.action in _REVIVING:
        state.interrupted, state.failed_node_run_id, state.terminated = [], None, False


_HANDLERS: dict[str, tuple[type[Any], Callable[[RunState, FlowchartGraph, Any], None]]] = {
    MessageType.NODE_QUEUED: (NodeQueued, _queued),
    MessageType.NODE_REQUEUED: (NodeRequeued, _requeued),
    MessageType.NODE_DISPATCHED: (NodeDispatched, _dispatched),
    MessageType.NODE_SUCCEEDED: (NodeSucceeded, _succeeded),
    MessageType.NODE_SKIPPED: (NodeSkipped, _skipped),
    MessageType.NODE_FAILED: (NodeFailed, _failed),
    MessageType.NODE_ROUTED: (NodeRouted, _routed),
    MessageType.RUN_FAILED: (RunFailed, _run_failed),
    MessageType.RUN_SUCCEEDED: (RunSucceeded, _run_succeeded),
    MessageType.RUN_CONTROLLED: (RunControlled, _controlled),
}


def evolve(state: RunState, graph: FlowchartGraph, type_name: str, payload: Any) -> None:
    """Apply the event ``type_name`` with ``payload`` to ``state`` (other types change nothing).

    ``run.rewound`` is applied by ``replay`` (it needs the history, not just the state).
    """
    entry = _HANDLERS.get(type_name)
    if entry is not None:
        expected, handler = entry
        assert isinstance(payload, expected), (type_name, type(payload))
        handler(state, graph, payload)
