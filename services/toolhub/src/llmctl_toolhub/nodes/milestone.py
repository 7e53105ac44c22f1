"""Milestone nodes: ``create_or_update`` or ``mark_complete`` the node's milestone, then the
loop rules: checkpoints, loop exit and ``terminate_run`` (read by the router)."""

from __future__ import annotations

from typing import Any

import msgspec

from llmctl_contracts import ErrorCode
from llmctl_contracts.codec import field_error_from_msgspec
from llmctl_contracts.flowchart import MilestoneNode
from llmctl_contracts.special_nodes import MilestoneNodeConfig, MilestonePatch
from llmctl_libs.ids import deterministic_id

from .context_paths import MISSING
from .invoker import ToolCallError
from .outcome import NodeInputError, NodeOutcome
from .request import NodeRequest
from .tool_steps import with_retries

__all__ = ["MilestoneHandler", "loop_rules"]


def loop_rules(config: MilestoneNodeConfig, *, completed: bool, run_count: int) -> dict[str, Any]:
    """Checkpoint, termination and route key for the ``run_count``-th execution in a run."""
    every = config.loop_checkpoint_every
    checkpoint = every is not None and run_count % every == 0
    reasons = []
    if config.terminate_always:
        reasons.append("terminate_always")
    if config.terminate_on_complete and completed:
        reasons.append("milestone completed")
    if config.terminate_on_checkpoint and checkpoint:
        reasons.append(f"checkpoint at run {run_count}")
    if config.loop_exit_after_runs is not None and run_count >= config.loop_exit_after_runs:
        reasons.append(f"loop exit after {config.loop_exit_after_runs} runs")
    terminate = bool(reasons)
    route_key = config.route_key_on_terminate if terminate else None
    if route_key is None and completed and not terminate:
        route_key = config.route_key_on_complete
    return {
        "completed": completed,
        "checkpoint": checkpoint,
        "run_count": run_count,
        "terminate_run": terminate,
        "terminate_reason": "; ".join(reasons) or None,
        "route_key": route_key,
    }


def milestone_artifact(milestone: dict[str, Any]) -> dict[str, Any]:
    """The milestone's final state (evidence as ids only)."""
    keep = ("id", "name", "status", "priority", "owner", "progress_percent", "health")
    state = {k: milestone[k] for k in keep}
    state.update(
        latest_update=milestone["latest_update"],
        completed_at=milestone["completed_at"],
        evidence_ids=[e["id"] for e in milestone["evidence"]],
        version=milestone["version"],
    )
    return state


class MilestoneHandler:
    """Executes ``milestone`` nodes through the ``milestone_*`` tools."""

    @property
    def config_type(self) -> type[MilestoneNodeConfig]:
        """The typed config of this node kind."""
        return MilestoneNodeConfig

    async def run(self, request: NodeRequest[MilestoneNodeConfig]) -> NodeOutcome:
        """Write the milestone, then apply the loop rules to the result."""
        node = request.node
        assert isinstance(node, MilestoneNode)
        config = request.config
        milestone_id = self.milestone_id(request)
        patch = self._patch(request)
        complete = node.action == "mark_complete" or self._completion_signal(request)

        async def step() -> dict[str, Any]:
            current = await self._current(request, milestone_id)
            fields = {k: v for k, v in msgspec.to_builtins(patch).items() if v is not None}
            if complete:
                fields["status"] = "completed"
            if current is None:
                name = fields.pop("name", None) or node.title or "Milestone"
                return await request.tools(
                    "milestone_create", {**fields, "name": name, "id": milestone_id}
                )
            if not fields or all(current.get(k) == v for k, v in fields.items()):
                return current
            return await request.tools(
                "milestone_update",
                {**fields, "id": milestone_id, "expected_version": current["version"]},
            )

        milestone = await with_retries(step, config)
        rules = loop_rules(
            config, completed=milestone["status"] == "completed", run_count=request.execution_count
        )
        output = {
            "milestone_id": milestone_id,
            "action": node.action,
            **rules,
            "artifact": {"milestone": milestone_artifact(milestone)},
        }
        return NodeOutcome(output=output)

    def fallback_fields(self, request: NodeRequest[MilestoneNodeConfig]) -> dict[str, Any]:
        """Loop rules still apply when the fallback continues the node: a failing milestone
        tool must not keep a loop running forever. Completion is what the node was told."""
        node = request.node
        assert isinstance(node, MilestoneNode)
        complete = node.action == "mark_complete" or self._completion_signal(request)
        rules = loop_rules(request.config, completed=complete, run_count=request.execution_count)
        return {"milestone_id": self.milestone_id(request), "action": node.action, **rules}

    @staticmethod
    def milestone_id(request: NodeRequest[MilestoneNodeConfig]) -> str:
        """The node's milestone, else one milestone per run and node."""
        node = request.node
        assert isinstance(node, MilestoneNode)
        return node.milestone_id or deterministic_id("milestone", request.run_id, node.id)

    @staticmethod
    def _completion_signal(request: NodeRequest[MilestoneNodeConfig]) -> bool:
        value = request.value_at(request.config.completion_source_path)
        return value is not MISSING and bool(value)

    @staticmethod
    def _patch(request: NodeRequest[MilestoneNodeConfig]) -> MilestonePatch:
        config = request.config
        if not config.patch_source_path:
            return config.patch or MilestonePatch()
        found = request.value_at(config.patch_source_path)
        if found is MISSING:
            raise NodeInputError.field(
                "config.patch_source_path",
                f"nothing at {config.patch_source_path!r} in the input context",
            )
        try:
            return msgspec.convert(found, MilestonePatch)
        except msgspec.ValidationError as exc:
            detail = field_error_from_msgspec(exc)
            raise NodeInputError.field(
                f"config.patch_source_path{detail.field[1:]}",
                f"not a milestone patch: {detail.reason}",
            ) from exc

    @staticmethod
    async def _current(
        request: NodeRequest[MilestoneNodeConfig], milestone_id: str
    ) -> dict[str, Any] | None:
        node = request.node
        assert isinstance(node, MilestoneNode)
        try:
            current = await request.tools("milestone_get", {"id": milestone_id})
        except ToolCallError as exc:
            if exc.body.code is ErrorCode.NOT_FOUND and node.action == "create_or_update":
                return None
            raise  # mark_complete needs an existing milestone
        request.last_state = {"milestone": milestone_artifact(current)}
        return current
