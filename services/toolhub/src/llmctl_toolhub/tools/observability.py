"""Observability tools: one run at a time by default (``run_id`` is required); the only
cross-run query is ``tool_calls_summary``, with a time window, a filter and a hard limit.

"Logs" of a run or node run are its event timeline (the orchestrator's, filtered to the node
run) together with toolhub's records of the tool calls made for it; services' process logs
are an operator concern and are not exposed to models.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import msgspec

from llmctl_contracts import ErrorBody, ErrorCode
from llmctl_contracts.artifacts import ArtifactRecord
from llmctl_contracts.rpc import (
    GetById,
    ListNodeRuns,
    ListRunEvents,
    NodeRunRecord,
    RunEventRecord,
    RunRecord,
)
from llmctl_contracts.tools import ToolCallRecord, ToolStatus
from llmctl_libs.tools import ToolContext, ToolError, ToolSpec

from ._deps import ToolDeps, not_found
from ._types import EntityId

__all__ = ["SUMMARY_WINDOW", "observability_tools"]

DOMAIN = "observability"
SUMMARY_WINDOW = timedelta(days=7)
"""How far back ``tool_calls_summary`` may look."""
_FAILURE_EVENTS = {"node.failed", "node.retry_scheduled", "run.failed"}
_FAILURE_EVENT_SCAN = 1000


class RunArgs(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One run."""

    run_id: EntityId


class NodeRunArgs(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One node run of one run."""

    run_id: EntityId
    node_run_id: EntityId


class LogsArgs(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A page of a run's (or one node run's) timeline.

    Attributes:
        run_id: The run.
        node_run_id: Only this node run's events and tool calls.
        after_sequence: Events after this sequence (page with ``next_after_sequence``).
        limit: Events read per page (the node-run filter applies to them).
    """

    run_id: EntityId
    node_run_id: EntityId | None = None
    after_sequence: Annotated[int, msgspec.Meta(ge=0)] = 0
    limit: Annotated[int, msgspec.Meta(ge=1, le=200)] = 50


class ToolCallsArgs(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Tool call records of one run."""

    run_id: EntityId
    node_run_id: EntityId | None = None
    tool: str | None = None
    status: ToolStatus | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=100)] = 50


class SummaryArgs(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Cross-run counts; ``since`` within the last 7 days and ``tool`` or ``status`` required."""

    since: datetime
    tool: str | None = None
    status: ToolStatus | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=50)] = 20


class Logs(msgspec.Struct, frozen=True, kw_only=True):
    """A page of timeline events plus the tool calls of the run/node run."""

    events: list[RunEventRecord]
    tool_calls: list[ToolCallRecord]
    next_after_sequence: int


class ToolCalls(msgspec.Struct, frozen=True, kw_only=True):
    """Tool call audit records, oldest first."""

    tool_calls: list[ToolCallRecord]


class ToolCallGroup(msgspec.Struct, frozen=True, kw_only=True):
    """Calls of one tool with one status."""

    tool: str
    status: str
    calls: int
    runs: int


class ToolCallSummary(msgspec.Struct, frozen=True, kw_only=True):
    """Counts by tool and status since ``since``."""

    since: str
    groups: list[ToolCallGroup]


class FailureTrace(msgspec.Struct, frozen=True, kw_only=True):
    """Why a run failed (or what has failed so far).

    Attributes:
        run_id: The run.
        run_status: Its status.
        run_error: The error that failed it, if it failed.
        failed_node_runs: Its failed node runs (superseded ones included, flagged).
        failure_events: ``node.failed``, ``node.retry_scheduled`` and ``run.failed`` events.
        failed_tool_calls: Tool calls of the run that ended in ``error``.
    """

    run_id: str
    run_status: str
    run_error: ErrorBody | None
    failed_node_runs: list[NodeRunRecord]
    failure_events: list[RunEventRecord]
    failed_tool_calls: list[ToolCallRecord]


def observability_tools(deps: ToolDeps) -> list[ToolSpec[Any, Any]]:
    """The observability tools."""

    async def run_get(ctx: ToolContext, args: RunArgs) -> RunRecord:
        return await deps.orchestrator("run.get", GetById(id=args.run_id), RunRecord)

    async def all_node_runs(run_id: str) -> list[NodeRunRecord]:
        """Every node run of the run, page after page (a page holds what fits in one answer)
        until a page is empty."""
        records: list[NodeRunRecord] = []
        while page := await deps.orchestrator(
            "run.node_runs", ListNodeRuns(run_id=run_id, offset=len(records)), list[NodeRunRecord]
        ):
            records += page
        return records

    async def node_run_get(ctx: ToolContext, args: NodeRunArgs) -> NodeRunRecord:
        node_runs = await all_node_runs(args.run_id)
        found = next((n for n in node_runs if n.id == args.node_run_id), None)
        if found is None:
            raise not_found("node run", "node_run_id", args.node_run_id)
        return found

    async def logs_get(ctx: ToolContext, args: LogsArgs) -> Logs:
        events = await deps.orchestrator(
            "run.events",
            ListRunEvents(run_id=args.run_id, after_sequence=args.after_sequence, limit=args.limit),
            list[RunEventRecord],
        )
        if not events and args.after_sequence == 0:
            await deps.orchestrator("run.get", GetById(id=args.run_id), RunRecord)  # not_found
        chosen = [
            e for e in events if args.node_run_id is None or e.node_run_id == args.node_run_id
        ]
        calls = await deps.calls.records(
            ctx.require_conn(), run_id=args.run_id, node_run_id=args.node_run_id, limit=100
        )
        return Logs(
            events=chosen,
            tool_calls=calls,
            next_after_sequence=events[-1].sequence if events else args.after_sequence,
        )

    async def tool_calls_get(ctx: ToolContext, args: ToolCallsArgs) -> ToolCalls:
        calls = await deps.calls.records(
            ctx.require_conn(),
            run_id=args.run_id,
            node_run_id=args.node_run_id,
            tool=args.tool,
            status=args.status.value if args.status else None,
            limit=args.limit,
        )
        return ToolCalls(tool_calls=calls)

    async def tool_calls_summary(ctx: ToolContext, args: SummaryArgs) -> ToolCallSummary:
        if args.tool is None and args.status is None:
            raise _invalid("arguments.tool", "give `tool` or `status` (or both) to filter by")
        since = args.since if args.since.tzinfo else args.since.replace(tzinfo=UTC)
        if since < datetime.now(UTC) - SUMMARY_WINDOW:
            raise _invalid("arguments.since", "must be within the last 7 days")
        groups = await deps.calls.summary(
            ctx.require_conn(),
            since=since,
            tool=args.tool,
            status=args.status.value if args.status else None,
            limit=args.limit,
        )
        return ToolCallSummary(since=since.isoformat(), groups=[ToolCallGroup(**g) for g in groups])

    async def failure_trace_get(ctx: ToolContext, args: RunArgs) -> FailureTrace:
        run = await deps.orchestrator("run.get", GetById(id=args.run_id), RunRecord)
        node_runs = await all_node_runs(args.run_id)
        events = await deps.orchestrator(
            "run.events",
            ListRunEvents(run_id=args.run_id, limit=_FAILURE_EVENT_SCAN),
            list[RunEventRecord],
        )
        if len(events) == _FAILURE_EVENT_SCAN:
            ctx.warn(f"only the first {_FAILURE_EVENT_SCAN} events of the run were scanned")
        calls = await deps.calls.records(
            ctx.require_conn(), run_id=args.run_id, status=ToolStatus.ERROR.value, limit=50
        )
        return FailureTrace(
            run_id=run.id,
            run_status=run.status,
            run_error=run.error,
            failed_node_runs=[n for n in node_runs if n.status == "failed"],
            failure_events=[e for e in events if e.type in _FAILURE_EVENTS],
            failed_tool_calls=calls,
        )

    async def artifact_get(ctx: ToolContext, args: NodeRunArgs) -> ArtifactRecord:
        artifact = await deps.orchestrator(
            "artifact.get", GetById(id=args.node_run_id), ArtifactRecord, id_field="node_run_id"
        )
        if artifact.run_id != args.run_id:
            raise not_found("artifact of node run", "node_run_id", args.node_run_id)
        return artifact

    def read(name: str, description: str, args: type[Any], out: type[Any], handler: Any) -> Any:
        return ToolSpec(name, 1, DOMAIN, description, args, out, handler, max_attempts=2)

    return [
        read(
            "run_get",
            "A run: status, input, outcome, error, counters.",
            RunArgs,
            RunRecord,
            run_get,
        ),
        read(
            "node_run_get",
            "One node run of a run: status, input context, output, routing state, error.",
            NodeRunArgs,
            NodeRunRecord,
            node_run_get,
        ),
        read(
            "logs_get",
            "A page of a run's event timeline (optionally one node run's events) with the tool "
            "calls made for it.",
            LogsArgs,
            Logs,
            logs_get,
        ),
        read(
            "tool_calls_get",
            "Tool call records of a run (filter by node run, tool, status), oldest first.",
            ToolCallsArgs,
            ToolCalls,
            tool_calls_get,
        ),
        read(
            "tool_calls_summary",
            "Cross-run counts of tool calls by tool and status since a time (at most 7 days "
            "back); needs a tool or status filter.",
            SummaryArgs,
            ToolCallSummary,
            tool_calls_summary,
        ),
        read(
            "artifact_get",
            "The final-state artifact of one node run of a run (typed by node kind: a task's "
            "prompt and result, a decision's evaluation, memory/plan/milestone state).",
            NodeRunArgs,
            ArtifactRecord,
            artifact_get,
        ),
        read(
            "failure_trace_get",
            "Why a run failed: its error, failed node runs, failure events and failed tool calls.",
            RunArgs,
            FailureTrace,
            failure_trace_get,
        ),
    ]


def _invalid(field: str, reason: str) -> ToolError:
    return ToolError(ErrorBody.for_field(ErrorCode.VALIDATION_FAILED, field, reason))
