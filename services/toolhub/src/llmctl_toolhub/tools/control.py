"""Workflow-control tools, delegating to the orchestrator's ``run.control``.

Every call is a write. The orchestrator request id is derived from the call's idempotency key
(``ctx.operation_key``), so a retried attempt can never apply twice, and a repeated key is
answered from toolhub's own record without sending the orchestrator anything.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from llmctl_contracts.rpc import ControlRun, RunRecord
from llmctl_libs.tools import ToolContext, ToolSpec

from ._deps import ToolDeps
from ._types import EntityId, Reason

__all__ = ["control_tools"]

DOMAIN = "workflow_control"


class RunControlArgs(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Arguments of a run-level control tool."""

    run_id: EntityId
    reason: Reason | None = None


class NodeControlArgs(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Arguments of a node-run control tool."""

    run_id: EntityId
    node_run_id: EntityId
    reason: Reason | None = None


class NodeSkipArgs(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Arguments of ``node_skip``: ``output`` is what the skipped node routes with."""

    run_id: EntityId
    node_run_id: EntityId
    reason: Reason | None = None
    output: dict[str, Any] | None = None


Action = Literal["pause", "resume", "cancel", "retry", "skip", "rewind"]


def _control(deps: ToolDeps, action: Action) -> Any:
    async def handler(ctx: ToolContext, args: Any) -> RunRecord:
        request = ControlRun(
            run_id=args.run_id,
            action=action,
            request_id=ctx.operation_key,
            reason=args.reason,
            node_run_id=getattr(args, "node_run_id", None),
            output=getattr(args, "output", None),
        )
        return await deps.orchestrator("run.control", request, RunRecord)

    return handler


def control_tools(deps: ToolDeps) -> list[ToolSpec[Any, Any]]:
    """The workflow-control tools."""

    def tool(name: str, action: Action, args: type[Any], description: str) -> ToolSpec[Any, Any]:
        return ToolSpec(
            name,
            1,
            DOMAIN,
            description,
            args,
            RunRecord,
            _control(deps, action),
            writes=True,
            timeout_seconds=15.0,
            max_attempts=2,
        )

    return [
        tool(
            "workflow_pause",
            "pause",
            RunControlArgs,
            "Pause a running run: nothing new starts; in-flight node runs finish. Returns the run.",
        ),
        tool(
            "workflow_resume",
            "resume",
            RunControlArgs,
            "Resume a pausing or paused run. Returns the run.",
        ),
        tool(
            "workflow_cancel",
            "cancel",
            RunControlArgs,
            "Cancel an active run: open node runs end cancelled. Returns the run.",
        ),
        tool(
            "node_retry",
            "retry",
            NodeControlArgs,
            "Run again the failed node run that failed the run, with its recorded input.",
        ),
        tool(
            "node_skip",
            "skip",
            NodeSkipArgs,
            "Mark a failed (or queued) node run skipped; it routes on with `output` (default {}).",
        ),
        tool(
            "node_rewind",
            "rewind",
            NodeControlArgs,
            "Re-run the run from an earlier node run (state as it stood before it; later events "
            "are kept but superseded). The run must be paused or finished.",
        ),
    ]
