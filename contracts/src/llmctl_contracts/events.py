"""Event payloads (facts, past tense). Each is registered in ``registry`` with its version."""

from __future__ import annotations

from typing import Any

import msgspec

from .errors import ErrorBody
from .routing import RoutingState
from .statuses import NodeRunStatus

__all__ = [
    "FlowchartCreated",
    "FlowchartDeleted",
    "FlowchartUpdated",
    "NodeCancelRequested",
    "NodeDispatched",
    "NodeExecuted",
    "NodeFailed",
    "NodeQueued",
    "NodeRequeued",
    "NodeRetryScheduled",
    "NodeRouted",
    "NodeRoutingDecided",
    "NodeSkipped",
    "NodeSucceeded",
    "RunControlled",
    "RunCreated",
    "RunFailed",
    "RunRewound",
    "RunStarted",
    "RunSucceeded",
    "TokenSnapshot",
]


class FlowchartCreated(msgspec.Struct, frozen=True, kw_only=True):
    """A flowchart (or a new version of one) was stored."""

    flowchart_id: str
    version: int
    name: str


class FlowchartUpdated(msgspec.Struct, frozen=True, kw_only=True):
    """A new version of a flowchart was saved (versions before it are kept)."""

    flowchart_id: str
    version: int
    name: str


class FlowchartDeleted(msgspec.Struct, frozen=True, kw_only=True):
    """A flowchart was deleted; its versions are kept for the runs that pinned them."""

    flowchart_id: str
    latest_version: int
    name: str


class RunCreated(msgspec.Struct, frozen=True, kw_only=True):
    """A run was accepted; it pins ``flowchart_version``."""

    flowchart_id: str
    flowchart_version: int
    input: dict[str, Any] = msgspec.field(default_factory=dict)


class RunControlled(msgspec.Struct, frozen=True, kw_only=True):
    """A control request changed the run's status (``pausing``, ``paused``, ``running``,
    ``cancelling``, ``cancelled``).

    ``action`` is pause, resume, cancel, or a node operation (retry, skip, rewind) on
    ``node_run_id``.
    """

    action: str
    status: str
    request_id: str
    reason: str | None = None
    cancelled_node_run_ids: list[str] = msgspec.field(default_factory=list)
    node_run_id: str | None = None


class NodeCancelRequested(msgspec.Struct, frozen=True, kw_only=True):
    """Workers should stop executing ``node_run_ids`` (best effort; results are ignored).

    ``attempts`` names the attempt to stop per node run: a worker running another attempt of
    that node run (a retry or a re-queue dispatched after this notice was decided) keeps it.
    A node run missing from ``attempts`` is stopped whatever its attempt.
    """

    run_id: str
    node_run_ids: list[str]
    attempts: dict[str, int] = msgspec.field(default_factory=dict)


class RunStarted(msgspec.Struct, frozen=True, kw_only=True):
    """The run's start node was activated."""

    start_node_id: str


class TokenSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """A token left unconsumed on a connector when the run ended."""

    connector_id: str
    target_node_id: str
    source_node_run_id: str


class RunSucceeded(msgspec.Struct, frozen=True, kw_only=True):
    """The run completed; ``reason`` is ``terminated`` or ``quiescent``."""

    reason: str
    node_executions: int
    unconsumed_tokens: list[TokenSnapshot] = msgspec.field(default_factory=list)
    cancelled_node_run_ids: list[str] = msgspec.field(default_factory=list)


class RunFailed(msgspec.Struct, frozen=True, kw_only=True):
    """The run failed; ``failed_node_run_id`` is the node that failed it, if any."""

    error: ErrorBody
    failed_node_run_id: str | None = None
    node_executions: int = 0
    unconsumed_tokens: list[TokenSnapshot] = msgspec.field(default_factory=list)
    cancelled_node_run_ids: list[str] = msgspec.field(default_factory=list)


class RunRewound(msgspec.Struct, frozen=True, kw_only=True):
    """The run went back to just before ``node_run_id`` was activated.

    Events with ``from_sequence <= sequence <= to_sequence`` are superseded: kept in the
    timeline, no longer part of the run's state. The node runs they created are marked
    superseded. The run continues with a new activation of the same node.
    """

    node_run_id: str
    node_id: str
    from_sequence: int
    to_sequence: int
    request_id: str


class NodeQueued(msgspec.Struct, frozen=True, kw_only=True):
    """A node was activated; a new node run exists with its recorded input context."""

    node_run_id: str
    node_id: str
    node_type: str
    execution_index: int
    consumed_connector_ids: list[str]
    input_context: dict[str, Any]


class NodeDispatched(msgspec.Struct, frozen=True, kw_only=True):
    """A node run's execute command was sent to a worker class."""

    node_run_id: str
    node_id: str
    worker: str
    attempt: int = 1


class NodeSucceeded(msgspec.Struct, frozen=True, kw_only=True):
    """A node run finished successfully (possibly with a warning)."""

    node_run_id: str
    node_id: str
    status: NodeRunStatus
    output: dict[str, Any]
    warnings: list[str] = msgspec.field(default_factory=list)
    duration_ms: float | None = None


class NodeFailed(msgspec.Struct, frozen=True, kw_only=True):
    """A node run failed after its attempts."""

    node_run_id: str
    node_id: str
    error: ErrorBody
    attempt: int = 1


class NodeRouted(msgspec.Struct, frozen=True, kw_only=True):
    """The run recorded which outgoing connectors of a node run fired."""

    node_run_id: str
    node_id: str
    routing_state: RoutingState


class NodeExecuted(msgspec.Struct, frozen=True, kw_only=True):
    """A worker reports the outcome of executing one node run attempt.

    Published by executors on ``llmctl.evt.exec.<run_id>.node.executed``.
    """

    node_run_id: str
    node_id: str
    attempt: int
    succeeded: bool
    output: dict[str, Any] = msgspec.field(default_factory=dict)
    error: ErrorBody | None = None
    warnings: list[str] = msgspec.field(default_factory=list)
    started_at: float | None = None
    finished_at: float | None = None
    worker_id: str | None = None
    artifact: dict[str, Any] | None = None
    """What the worker knows of the attempt's final state for the node run's artifact (a task's
    prompt, model and usage; a special node's domain state). Stored with the artifact only,
    never copied into the run's events."""


class NodeRoutingDecided(msgspec.Struct, frozen=True, kw_only=True):
    """The router decided which outgoing connectors fire (or that routing failed).

    Published by the router on ``llmctl.evt.route.<run_id>.node.routed``.
    """

    node_run_id: str
    node_id: str
    routing_state: RoutingState
    error: ErrorBody | None = None


class NodeRetryScheduled(msgspec.Struct, frozen=True, kw_only=True):
    """Attempt ``attempt`` failed; attempt ``next_attempt`` is dispatched after ``delay_ms``."""

    node_run_id: str
    node_id: str
    attempt: int
    error: ErrorBody
    next_attempt: int
    delay_ms: int


class NodeRequeued(msgspec.Struct, frozen=True, kw_only=True):
    """A failed or cancelled node run is queued again by a control request (node retry, or a
    sibling cancelled when the run failed); its earlier ``attempts`` stay on record."""

    node_run_id: str
    node_id: str
    attempts: int
    request_id: str


class NodeSkipped(msgspec.Struct, frozen=True, kw_only=True):
    """A control request skipped a node run: it ends ``skipped`` and routes with ``output``."""

    node_run_id: str
    node_id: str
    request_id: str
    output: dict[str, Any] = msgspec.field(default_factory=dict)
