"""Request/reply messages (queries and synchronous commands between services)."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from .errors import ErrorBody, FieldError
from .flowchart import FlowchartDefinition

__all__ = [
    "FLOWCHART_SORTS",
    "MAX_PAGE_SIZE",
    "RUN_SORTS",
    "ControlRun",
    "CreateFlowchart",
    "DeleteFlowchart",
    "FlowchartPage",
    "FlowchartRecord",
    "FlowchartSummary",
    "FlowchartValidation",
    "FlowchartVersionSummary",
    "GetById",
    "GetFlowchartVersion",
    "HealthReport",
    "ListFlowcharts",
    "ListNodeRuns",
    "ListRunEvents",
    "ListRuns",
    "NodeRunRecord",
    "ResolveModel",
    "RpcReply",
    "RunEventRecord",
    "RunPage",
    "RunRecord",
    "StartRun",
    "UpdateFlowchart",
    "ValidateFlowchart",
]

MAX_PAGE_SIZE = 100
"""Largest ``page_size`` a list request may ask for."""

FLOWCHART_SORTS = ("name", "-name", "created_at", "-created_at", "updated_at", "-updated_at")
"""Orders a flowchart list may be sorted by (``-``: descending)."""

RUN_SORTS = ("created_at", "-created_at", "updated_at", "-updated_at")
"""Orders a run list may be sorted by (``-``: descending)."""


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
    """Store a flowchart definition as a new flowchart.

    Attributes:
        definition: The definition (validated, fan-in counts clamped).
        idempotency_key: The same key with the same definition returns the same flowchart; with
            another definition it is refused (``idempotency_mismatch``).
        request_id: Client request id, for tracing.
    """

    definition: FlowchartDefinition
    idempotency_key: str | None = None
    request_id: str | None = None


class UpdateFlowchart(msgspec.Struct, frozen=True, kw_only=True):
    """Save ``definition`` as the next version of flowchart ``id`` (idempotent by key)."""

    id: str
    definition: FlowchartDefinition
    idempotency_key: str | None = None
    request_id: str | None = None


class DeleteFlowchart(msgspec.Struct, frozen=True, kw_only=True):
    """Delete flowchart ``id`` (idempotent by key); its versions stay for existing runs."""

    id: str
    idempotency_key: str | None = None
    request_id: str | None = None


class ValidateFlowchart(msgspec.Struct, frozen=True, kw_only=True):
    """Validate a definition without saving it."""

    definition: FlowchartDefinition


class FlowchartValidation(msgspec.Struct, frozen=True, kw_only=True):
    """What saving a definition would say.

    Attributes:
        valid: Whether it would be saved (no errors).
        errors: Field-level errors that would refuse it.
        warnings: Adjustments saving would make (e.g. a fan-in count clamped).
        definition: The definition as it would be saved (after adjustments); ``None`` when the
            document is not a flowchart definition at all.
    """

    valid: bool
    errors: list[FieldError]
    warnings: list[FieldError]
    definition: FlowchartDefinition | None = None


class ListFlowcharts(msgspec.Struct, frozen=True, kw_only=True):
    """One page of flowcharts, optionally filtered by a name search.

    Attributes:
        page: 1-based page number.
        page_size: Items per page (1..``MAX_PAGE_SIZE``).
        q: Case-insensitive substring of the name.
        sort: One of :data:`FLOWCHART_SORTS`.
    """

    page: int = 1
    page_size: int = 25
    q: str | None = None
    sort: str = "name"


class FlowchartSummary(msgspec.Struct, frozen=True, kw_only=True):
    """A flowchart without its definition.

    Attributes:
        id: Flowchart id.
        name: Name of the latest version.
        latest_version: Latest version number.
        created_at: When version 1 was saved.
        updated_at: When the latest version was saved (or the flowchart deleted).
        deleted: Whether the flowchart is deleted.
    """

    id: str
    name: str
    latest_version: int
    created_at: str
    updated_at: str
    deleted: bool = False


class FlowchartPage(msgspec.Struct, frozen=True, kw_only=True):
    """A page of flowcharts and how many match in all."""

    items: list[FlowchartSummary]
    total: int
    page: int
    page_size: int


class FlowchartVersionSummary(msgspec.Struct, frozen=True, kw_only=True):
    """One stored version of a flowchart, without its definition."""

    version: int
    name: str
    created_at: str


class GetFlowchartVersion(msgspec.Struct, frozen=True, kw_only=True):
    """Fetch one version of a flowchart."""

    id: str
    version: int


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


class ListRuns(msgspec.Struct, frozen=True, kw_only=True):
    """One page of runs, optionally filtered.

    Attributes:
        flowchart_id: Only runs of this flowchart.
        status: Only runs in this status.
        page: 1-based page number.
        page_size: Items per page (1..``MAX_PAGE_SIZE``).
        sort: One of :data:`RUN_SORTS` (default newest first).
    """

    flowchart_id: str | None = None
    status: str | None = None
    page: int = 1
    page_size: int = 25
    sort: str = "-created_at"


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


class RunPage(msgspec.Struct, frozen=True, kw_only=True):
    """A page of runs and how many match in all."""

    items: list[RunRecord]
    total: int
    page: int
    page_size: int


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
    omitted: list[str] = msgspec.field(default_factory=list)
    """Fields (``input_context``, ``output``, ``routing_state``) served empty because the node
    run is larger than one answer on the bus; the stored node run keeps them."""


class ListNodeRuns(msgspec.Struct, frozen=True, kw_only=True):
    """A run's node runs in activation order, from position ``offset`` on, at most ``limit``
    (fewer when they would not fit in one answer: page on until a page is empty)."""

    run_id: str
    offset: int = 0
    limit: int = 1000


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
    omitted: list[str] = msgspec.field(default_factory=list)
    """Payload fields served empty (``{}``, ``[]``, ``""`` or null) because the event is larger
    than one answer on the bus; the stored event keeps them."""


class ControlRun(msgspec.Struct, frozen=True, kw_only=True):
    """A workflow-control request; idempotent by ``request_id``, one key space for every run
    (a key reused with another request, on any run, is refused as ``idempotency_mismatch``).

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
