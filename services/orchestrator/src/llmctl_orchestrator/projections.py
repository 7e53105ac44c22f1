"""Run and node-run projections as a pure fold of the run's events.

The orchestrator keeps these projections in ``runs``/``node_runs`` as it goes; ``project``
rebuilds them from the event history alone (tests compare the two; an operator can use it to
rebuild a damaged read model).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from llmctl_contracts import MessageType, NodeRunStatus, RunStatus
from llmctl_contracts.events import (
    NodeDispatched,
    NodeFailed,
    NodeQueued,
    NodeRequeued,
    NodeRetryScheduled,
    NodeRouted,
    NodeSkipped,
    NodeSucceeded,
    RunControlled,
    RunFailed,
    RunRewound,
    RunSucceeded,
)

from .engine import RunEvent

__all__ = ["NodeRunView", "RunView", "project"]

_INLINE_TYPES = {"start", "end", "decision"}
_UNFINISHED = {
    NodeRunStatus.QUEUED.value,
    NodeRunStatus.DISPATCHED.value,
    NodeRunStatus.RUNNING.value,
}


@dataclass
class NodeRunView:
    """What the ``node_runs`` projection holds for one node run."""

    node_id: str
    node_type: str
    execution_index: int
    status: str
    attempt: int
    input_context: dict[str, Any]
    output: dict[str, Any] | None = None
    routing_state: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    superseded: bool = False


@dataclass
class RunView:
    """What the ``runs`` projection holds for one run."""

    status: str = RunStatus.RUNNING.value
    last_sequence: int = 0
    node_executions: int = 0
    error: dict[str, Any] | None = None
    outcome: dict[str, Any] | None = None
    node_runs: dict[str, NodeRunView] = field(default_factory=dict)
    queued_at: dict[str, int] = field(default_factory=dict)


def _builtins(value: Any) -> Any:
    return msgspec.to_builtins(value)


def _cancel(view: RunView, ids: Iterable[str]) -> None:
    for node_run_id in ids:
        node_run = view.node_runs[node_run_id]
        if node_run.status in _UNFINISHED:
            node_run.status = NodeRunStatus.CANCELLED.value


def _queued(view: RunView, event: NodeQueued, sequence: int) -> None:
    view.node_executions += 1
    view.queued_at[event.node_run_id] = sequence
    view.node_runs[event.node_run_id] = NodeRunView(
        node_id=event.node_id,
        node_type=event.node_type,
        execution_index=event.execution_index,
        status=NodeRunStatus.QUEUED.value,
        attempt=0,
        input_context=event.input_context,
    )


def _dispatched(view: RunView, event: NodeDispatched, _sequence: int) -> None:
    node_run = view.node_runs[event.node_run_id]
    node_run.status, node_run.attempt = NodeRunStatus.DISPATCHED.value, event.attempt


def _retry_scheduled(view: RunView, event: NodeRetryScheduled, _sequence: int) -> None:
    node_run = view.node_runs[event.node_run_id]
    node_run.status, node_run.error = NodeRunStatus.QUEUED.value, _builtins(event.error)


def _requeued(view: RunView, event: NodeRequeued, _sequence: int) -> None:
    node_run = view.node_runs[event.node_run_id]
    node_run.status, node_run.error = NodeRunStatus.QUEUED.value, None


def _succeeded(view: RunView, event: NodeSucceeded, _sequence: int) -> None:
    node_run = view.node_runs[event.node_run_id]
    node_run.status, node_run.output = event.status.value, event.output
    if node_run.node_type in _INLINE_TYPES:
        node_run.attempt = 1


def _skipped(view: RunView, event: NodeSkipped, _sequence: int) -> None:
    node_run = view.node_runs[event.node_run_id]
    node_run.status, node_run.output = NodeRunStatus.SKIPPED.value, event.output


def _failed(view: RunView, event: NodeFailed, _sequence: int) -> None:
    node_run = view.node_runs[event.node_run_id]
    node_run.status, node_run.error = NodeRunStatus.FAILED.value, _builtins(event.error)


def _routed(view: RunView, event: NodeRouted, _sequence: int) -> None:
    node_run = view.node_runs[event.node_run_id]
    node_run.routing_state = _builtins(event.routing_state)
    if event.routing_state.fallback_used:
        node_run.status = NodeRunStatus.SUCCEEDED_WITH_WARNING.value


def _run_failed(view: RunView, event: RunFailed, _sequence: int) -> None:
    _cancel(view, event.cancelled_node_run_ids)
    view.status, view.error = RunStatus.FAILED.value, _builtins(event.error)


def _run_succeeded(view: RunView, event: RunSucceeded, _sequence: int) -> None:
    _cancel(view, event.cancelled_node_run_ids)
    view.status = RunStatus.SUCCEEDED.value
    view.outcome = {
        "reason": event.reason,
        "unconsumed_tokens": _builtins(event.unconsumed_tokens),
    }


def _controlled(view: RunView, event: RunControlled, _sequence: int) -> None:
    view.status = event.status
    if event.action == "cancel":
        _cancel(view, event.cancelled_node_run_ids)
    elif event.action in {"retry", "skip", "rewind"} and event.status == RunStatus.RUNNING:
        view.error, view.outcome = None, None


def _rewound(view: RunView, event: RunRewound, _sequence: int) -> None:
    _cancel(view, list(view.node_runs))
    for node_run_id, queued_at in view.queued_at.items():
        if event.from_sequence <= queued_at <= event.to_sequence:
            view.node_runs[node_run_id].superseded = True


_FOLD: dict[str, Callable[[RunView, Any, int], None]] = {
    MessageType.NODE_QUEUED: _queued,
    MessageType.NODE_DISPATCHED: _dispatched,
    MessageType.NODE_RETRY_SCHEDULED: _retry_scheduled,
    MessageType.NODE_REQUEUED: _requeued,
    MessageType.NODE_SUCCEEDED: _succeeded,
    MessageType.NODE_SKIPPED: _skipped,
    MessageType.NODE_FAILED: _failed,
    MessageType.NODE_ROUTED: _routed,
    MessageType.RUN_FAILED: _run_failed,
    MessageType.RUN_SUCCEEDED: _run_succeeded,
    MessageType.RUN_CONTROLLED: _controlled,
    MessageType.RUN_REWOUND: _rewound,
}


def project(events: Iterable[RunEvent]) -> RunView:
    """Fold a run's events (in sequence order) into its run and node-run projections."""
    view = RunView()
    for event in events:
        view.last_sequence = event.sequence
        fold = _FOLD.get(event.type)
        if fold is not None:
            fold(view, event.payload, event.sequence)
    return view
