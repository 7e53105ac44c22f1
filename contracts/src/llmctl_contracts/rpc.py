"""Request/reply messages (queries and synchronous commands between services)."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from .errors import ErrorBody, FieldError
from .flowchart import FlowchartDefinition

__all__ = [
    "ControlRun",
    "CreateFlowchart",
    "FlowchartRecord",
    "GetById",
    "HealthReport",
    "ListRunEvents",
    "NodeRunRecord",
    "ResolveModel",
    "RpcReply",
    "RunEventRecord",
    "RunRecord",
    "StartRun",
]


class RpcReply(msgspec.Struct, frozen=True, kw_only=True):
    """Every reply: ``ok`` with ``result``, or not ``ok`` with ``error``."""

    ok: bool
    result: Any = None
    error: ErrorBody | None = None


class HealthReport(msgspec.Struct, frozen=True, kw_only=True):
    """A service's health as it reports it."""

    service: str
    healthy: bool
    pid: int
    checks: dict[str, bool] = msgspec.field(default_factory=dict)


class CreateFlowchart(msgspec.Struct, frozen=True, kw_only=True):
    """Store a flowchart definition as a new flowchart."""

    definition: FlowchartDefinition
    request_id: str | None = None


class FlowchartRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A stored flowchart version."""

    id: str
    version: int
    name: str
    definition: FlowchartDefinition
    created_at: str
    warnings: list[FieldError] = msgspec.field(default_factory=list)


class GetById(msgspec.Struct, frozen=True, kw_only=True):
    """Fetch one entity by id."""

    id: str


class StartRun(msgspec.Struct, frozen=True, kw_only=True):
    """Start a run; the same ``idempotency_key`` always yields the same run."""

    flowchart_id: str
    input: dict[str, Any] = msgspec.field(default_factory=dict)
    idempotency_key: str | None = None
    request_id: str | None = None
    correlation_id: str | None = None


class RunRecord(msgspec.Struct, frozen=True, kw_only=True):
    """Projection of a run."""

    id: str
    flowchart_id: str
    flowchart_version: int
    status: str
    input: dict[str, Any]
    node_executions: int
    created_at: str
    updated_at: str
    correlation_id: str
    error: ErrorBody | None = None
    last_sequence: int = 0
    outcome: dict[str, Any] | None = None


class NodeRunRecord(msgspec.Struct, frozen=True, kw_only=True):
    """Projection of one node run."""

    id: str
    run_id: str
    node_id: str
    node_type: str
    execution_index: int
    status: str
    attempt: int
    input_context: dict[str, Any]
    output: dict[str, Any] | None
    routing_state: dict[str, Any] | None
    error: ErrorBody | None
    created_at: str
    updated_at: str
    superseded: bool = False


class ListRunEvents(msgspec.Struct, frozen=True, kw_only=True):
    """Run events with ``sequence > after_sequence``, at most ``limit``."""

    run_id: str
    after_sequence: int = 0
    limit: int = 1000


class ResolveModel(msgspec.Struct, frozen=True, kw_only=True):
    """Resolve a model by name or alias (``None``: the default model)."""

    name: str | None = None


class RunEventRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One event of a run's timeline as served to clients (payload decoded)."""

    event_id: str
    type: str
    version: int
    sequence: int
    occurred_at: str
    run_id: str
    correlation_id: str
    payload: dict[str, Any]
    node_run_id: str | None = None
    causation_id: str | None = None
    request_id: str | None = None
    superseded: bool = False


class ControlRun(msgspec.Struct, frozen=True, kw_only=True):
    """A workflow-control request; idempotent by ``request_id`` per run.

    Attributes:
        run_id: The run.
        action: ``pause``, ``resume`` or ``cancel`` the run; ``retry``, ``skip`` or ``rewind``
            the node run ``node_run_id``.
        request_id: Client request id (the HTTP ``Idempotency-Key``); a repeated request id
            returns the run as the first request left it and changes nothing.
        reason: Optional human reason, recorded in the event.
        node_run_id: The node run a node operation applies to (required for those).
        output: What a skipped node run routes with (``skip`` only; empty by default).
    """

    run_id: str
    action: Literal["pause", "resume", "cancel", "retry", "skip", "rewind"]
    request_id: str
    reason: str | None = None
    node_run_id: str | None = None
    output: dict[str, Any] | None = None
