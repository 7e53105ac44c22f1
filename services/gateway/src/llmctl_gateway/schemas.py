"""HTTP request and response bodies of the gateway's REST API (documented in OpenAPI)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from llmctl_contracts.rpc import (
    FlowchartPage,
    FlowchartRecord,
    FlowchartSummary,
    FlowchartValidation,
    FlowchartVersionSummary,
    NodeRunRecord,
    RunEventRecord,
    RunPage,
    RunRecord,
)

__all__ = [
    "MAX_REASON_LENGTH",
    "ControlRunBody",
    "FlowchartDeletedResponse",
    "FlowchartPageResponse",
    "FlowchartResponse",
    "FlowchartSort",
    "FlowchartValidationResponse",
    "FlowchartVersionsResponse",
    "HealthData",
    "HealthResponse",
    "NodeRunsResponse",
    "RunEventsResponse",
    "RunPageResponse",
    "RunResponse",
    "RunSort",
    "RunStatusFilter",
    "ServiceHealth",
    "StartRunBody",
]


class StartRunBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Body of ``POST /api/v1/runs``.

    Attributes:
        flowchart_id: Flowchart to run (its latest version is pinned).
        input: Run input handed to the start node.
    """

    flowchart_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    input: dict[str, Any] = msgspec.field(default_factory=dict)


MAX_REASON_LENGTH = 1000
"""Longest ``reason`` a control request may carry."""


class ControlRunBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Optional body of ``POST /api/v1/runs/{run_id}/pause|resume|cancel``.

    Attributes:
        reason: Why the run is being controlled; recorded in the ``run.controlled`` event.
    """

    reason: Annotated[str, msgspec.Meta(max_length=MAX_REASON_LENGTH)] | None = None


class NodeRunControlBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Optional body of ``POST /api/v1/runs/{run_id}/node-runs/{node_run_id}/retry|skip|rewind``.

    Attributes:
        reason: Why; recorded in the run's ``run.controlled`` event.
        output: ``skip`` only: the output the skipped node run routes with (default ``{}``).
    """

    reason: Annotated[str, msgspec.Meta(max_length=MAX_REASON_LENGTH)] | None = None
    output: dict[str, Any] | None = None


class FlowchartResponse(msgspec.Struct, frozen=True, kw_only=True):
    """Success envelope around a flowchart."""

    ok: bool
    data: FlowchartRecord
    correlation_id: str


FlowchartSort = Literal["name", "-name", "created_at", "-created_at", "updated_at", "-updated_at"]
"""Orders of ``GET /api/v1/flowcharts`` (``-``: descending)."""

RunSort = Literal["created_at", "-created_at", "updated_at", "-updated_at"]
"""Orders of ``GET /api/v1/runs`` (``-``: descending)."""

RunStatusFilter = Literal[
    "queued", "running", "pausing", "paused", "cancelling", "cancelled", "succeeded", "failed"
]
"""Run statuses ``GET /api/v1/runs`` may filter by."""


class FlowchartPageResponse(msgspec.Struct, frozen=True, kw_only=True):
    """Success envelope around a page of flowcharts (``data.total``: matches in all)."""

    ok: bool
    data: FlowchartPage
    correlation_id: str


class FlowchartVersionsResponse(msgspec.Struct, frozen=True, kw_only=True):
    """Success envelope around a flowchart's versions, oldest first."""

    ok: bool
    data: list[FlowchartVersionSummary]
    correlation_id: str


class FlowchartValidationResponse(msgspec.Struct, frozen=True, kw_only=True):
    """Success envelope around what saving a definition would say."""

    ok: bool
    data: FlowchartValidation
    correlation_id: str


class FlowchartDeletedResponse(msgspec.Struct, frozen=True, kw_only=True):
    """Success envelope around a deleted flowchart (``data.deleted`` is true)."""

    ok: bool
    data: FlowchartSummary
    correlation_id: str


class RunPageResponse(msgspec.Struct, frozen=True, kw_only=True):
    """Success envelope around a page of runs (``data.total``: matches in all)."""

    ok: bool
    data: RunPage
    correlation_id: str


class RunResponse(msgspec.Struct, frozen=True, kw_only=True):
    """Success envelope around a run."""

    ok: bool
    data: RunRecord
    correlation_id: str


class NodeRunsResponse(msgspec.Struct, frozen=True, kw_only=True):
    """Success envelope around a run's node runs."""

    ok: bool
    data: list[NodeRunRecord]
    correlation_id: str


class RunEventsResponse(msgspec.Struct, frozen=True, kw_only=True):
    """Success envelope around a page of a run's events, ordered by sequence."""

    ok: bool
    data: list[RunEventRecord]
    correlation_id: str


class ServiceHealth(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One service's health as the gateway saw it.

    Attributes:
        healthy: Whether it answered and reported itself healthy.
        pid: Its process id, ``None`` when it did not answer.
        error: Why it counts as unhealthy (absent when healthy).
    """

    healthy: bool
    pid: int | None
    error: str | None = None


class HealthData(msgspec.Struct, frozen=True, kw_only=True):
    """Health of the gateway and of every service it depends on."""

    services: dict[str, ServiceHealth]


class HealthResponse(msgspec.Struct, frozen=True, kw_only=True):
    """``ok`` is true only when every service is healthy."""

    ok: bool
    data: HealthData
    correlation_id: str
