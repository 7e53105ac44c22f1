"""Plan nodes: apply a patch (``append`` | ``replace`` | ``update``) to the node's plan."""

from __future__ import annotations

from typing import Any

import msgspec

from llmctl_contracts import ErrorCode
from llmctl_contracts.codec import field_error_from_msgspec
from llmctl_contracts.flowchart import PlanNode
from llmctl_contracts.special_nodes import PlanNodeConfig, PlanPatch
from llmctl_libs.ids import deterministic_id

from .context_paths import MISSING
from .invoker import ToolCallError
from .outcome import NodeInputError, NodeOutcome
from .plan_merge import merge_plan
from .request import NodeRequest
from .tool_steps import with_retries

__all__ = ["PlanHandler", "plan_artifact"]

_PATCH_SCHEMA: dict[str, Any] = msgspec.json.schema(PlanPatch)


def plan_artifact(plan: dict[str, Any]) -> dict[str, Any]:
    """The plan's final state: ids, names and statuses (descriptions left out)."""
    return {
        "id": plan["id"],
        "name": plan["name"],
        "completed": plan["completed"],
        "version": plan["version"],
        "stages": [
            {
                "id": s["id"],
                "name": s["name"],
                "status": s["status"],
                "tasks": [
                    {"id": t["id"], "name": t["name"], "status": t["status"]} for t in s["tasks"]
                ],
            }
            for s in plan["stages"]
        ],
    }


class PlanHandler:
    """Executes ``plan`` nodes through the ``plan_*`` tools."""

    @property
    def config_type(self) -> type[PlanNodeConfig]:
        """The typed config of this node kind."""
        return PlanNodeConfig

    async def run(self, request: NodeRequest[PlanNodeConfig]) -> NodeOutcome:
        """Read the plan, merge the patch, write it with the version read (retried on conflict)."""
        config = request.config
        plan_id = self.plan_id(request)
        patch = await self._patch(request)

        async def step() -> dict[str, Any]:
            current = await self._current(request, plan_id)
            fields = merge_plan(current, patch, config.store_mode)
            if current is None:
                name = fields["name"] or request.node.title or "Plan"
                return await request.tools("plan_create", {**fields, "name": name, "id": plan_id})
            return await request.tools(
                "plan_update", {**fields, "id": plan_id, "expected_version": current["version"]}
            )

        plan = await with_retries(step, config)
        artifact = {"plan": plan_artifact(plan)}
        output = {
            "plan_id": plan_id,
            "store_mode": config.store_mode,
            "completed": plan["completed"],
            "route_key": config.route_key_on_complete if plan["completed"] else None,
            "artifact": artifact,
        }
        return NodeOutcome(output=output)

    def fallback_fields(self, request: NodeRequest[PlanNodeConfig]) -> dict[str, Any]:
        """Deterministic output fields kept when the LLM fallback continues the node."""
        return {"plan_id": self.plan_id(request), "store_mode": request.config.store_mode}

    @staticmethod
    def plan_id(request: NodeRequest[PlanNodeConfig]) -> str:
        """The node's plan, else one plan per run and node."""
        node = request.node
        assert isinstance(node, PlanNode)
        return node.plan_id or deterministic_id("plan", request.run_id, node.id)

    @staticmethod
    async def _current(request: NodeRequest[PlanNodeConfig], plan_id: str) -> dict[str, Any] | None:
        node = request.node
        assert isinstance(node, PlanNode)
        try:
            current = await request.tools("plan_get", {"id": plan_id})
        except ToolCallError as exc:
            if exc.body.code is ErrorCode.NOT_FOUND and node.plan_id is None:
                return None  # the run's own plan: created on first use
            raise
        request.last_state = {"plan": plan_artifact(current)}
        return current

    async def _patch(self, request: NodeRequest[PlanNodeConfig]) -> PlanPatch:
        config = request.config
        patch = config.patch or PlanPatch()
        if config.patch_source_path:
            found = request.value_at(config.patch_source_path)
            if found is MISSING:
                raise NodeInputError.field(
                    "config.patch_source_path",
                    f"nothing at {config.patch_source_path!r} in the input context",
                )
            patch = _decode_patch(found, "config.patch_source_path")
        if config.transform_with_llm or config.mode == "llm_guided":
            answer = await request.models.complete_json(
                model=config.model,
                instructions="Rewrite this plan patch as instructed; answer with the patch only. "
                + (config.transform_prompt or ""),
                payload={"patch": msgspec.to_builtins(patch), **request.upstream_payload()},
                schema_name="plan_patch",
                schema=_PATCH_SCHEMA,
                strict=False,  # optional patch keys: not expressible in strict mode
            )
            patch = _decode_patch(answer, "config.transform_with_llm")
        return patch


def _decode_patch(value: Any, field: str) -> PlanPatch:
    try:
        return msgspec.convert(value, PlanPatch)
    except msgspec.ValidationError as exc:
        detail = field_error_from_msgspec(exc)
        raise NodeInputError.field(
            f"{field}{detail.field[1:]}", f"not a plan patch: {detail.reason}"
        ) from exc
