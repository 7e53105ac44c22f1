"""Executing one special node: decode its config, run its handler, fall back to LLM reasoning
when a tool step fails and the node allows it, add the optional summary."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec

from llmctl_contracts import ErrorBody, ErrorCode
from llmctl_contracts.codec import field_error_from_msgspec
from llmctl_contracts.flowchart import MemoryNode, MilestoneNode, Node, PlanNode
from llmctl_contracts.special_nodes import FallbackMode, SpecialNodeTooling

from .invoker import ToolCallError, ToolInvoker
from .llm import ModelCaller, ModelUnavailable
from .memory import MemoryHandler
from .milestone import MilestoneHandler
from .outcome import NodeInputError, NodeOutcome
from .plan import PlanHandler
from .request import NodeRequest

__all__ = ["FALLBACK_SCHEMA", "NodeResult", "execute_special_node", "handles"]

FALLBACK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "proceed": {"type": "boolean"},
        "summary": {"type": "string"},
        "assumed_state": {"type": "string"},
    },
    "required": ["proceed", "summary", "assumed_state"],
    "additionalProperties": False,
}
"""What the fallback model answers: may the run go on, what it concluded, and the state it
assumes (free text: never written to the domain tables)."""

_SUMMARY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"summary": {"type": "string"}},
    "required": ["summary"],
    "additionalProperties": False,
}


class _Handler(Protocol):
    @property
    def config_type(self) -> type[SpecialNodeTooling]: ...

    async def run(self, request: NodeRequest[Any]) -> NodeOutcome: ...

    def fallback_fields(self, request: NodeRequest[Any]) -> dict[str, Any]: ...


_HANDLERS: dict[str, _Handler] = {
    "memory": MemoryHandler(),
    "plan": PlanHandler(),
    "milestone": MilestoneHandler(),
}


@dataclass(slots=True)
class NodeResult:
    """The outcome to report: ``output`` + ``warnings`` on success, ``error`` on failure."""

    succeeded: bool
    output: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    error: ErrorBody | None = None


def handles(node_type: str) -> bool:
    """Whether toolhub executes ``node_type`` nodes."""
    return node_type in _HANDLERS


def _fallback_allowed(mode: FallbackMode, error: ErrorBody) -> bool:
    if mode is FallbackMode.ALL:
        return True
    return mode is FallbackMode.CONFLICT_ONLY and error.code is ErrorCode.CONFLICT


async def execute_special_node(
    node: Node, context: dict[str, Any], tools: ToolInvoker, models: ModelCaller
) -> NodeResult:
    """Run a memory, plan or milestone node.

    The handler's output is authoritative. When a tool step fails (after its retries) and the
    node's ``tool_fallback_mode`` allows it, the model reasons about the failure; if it says
    the run may proceed, the node succeeds with ``fallback_used``, the reason and a warning.
    """
    node_type = type(node).__struct_config__.tag
    assert isinstance(node_type, str)
    handler = _HANDLERS[node_type]
    try:
        raw = node.config if isinstance(node, MemoryNode | PlanNode | MilestoneNode) else {}
        config = msgspec.convert(raw, handler.config_type)
    except msgspec.ValidationError as exc:
        detail = field_error_from_msgspec(exc)
        where = f"config{detail.field[1:]}"
        return NodeResult(
            succeeded=False,
            error=ErrorBody(
                code=ErrorCode.VALIDATION_FAILED,
                message=f"invalid {node_type} node config: {where}: {detail.reason}",
                details=[msgspec.structs.replace(detail, field=where)],
            ),
        )
    request: NodeRequest[Any] = NodeRequest(
        node=node, config=config, context=context, tools=tools, models=models
    )
    try:
        outcome = await handler.run(request)
    except NodeInputError as exc:
        return NodeResult(succeeded=False, error=exc.body)
    except ModelUnavailable as exc:
        return NodeResult(
            succeeded=False,
            error=ErrorBody(code=ErrorCode.UNAVAILABLE, message=f"{node_type} node: {exc}"),
        )
    except ToolCallError as exc:
        if not _fallback_allowed(config.fallback_mode(), exc.body):
            return NodeResult(succeeded=False, error=exc.body)
        return await _fall_back(node_type, handler, request, exc.body)
    outcome.output = {"node_type": node_type, "fallback_used": False, **outcome.output}
    if config.llm_summary:
        await _summarise(request, outcome)
    return NodeResult(succeeded=True, output=outcome.output, warnings=outcome.warnings)


async def _fall_back(
    node_type: str, handler: _Handler, request: NodeRequest[Any], error: ErrorBody
) -> NodeResult:
    try:
        answer = await request.models.complete_json(
            model=request.config.model,
            instructions=(
                f"A deterministic tool of a {node_type} node failed. Decide whether the workflow "
                "can proceed without it, summarise what the node should be taken to have done, "
                "and describe the state you assume."
            ),
            payload={
                "node": msgspec.to_builtins(request.node),
                "tool_error": msgspec.to_builtins(error),
                "last_known_state": request.last_state,
                **request.upstream_payload(),
            },
            schema_name="special_node_fallback",
            schema=FALLBACK_SCHEMA,
        )
    except ModelUnavailable as exc:
        return NodeResult(
            succeeded=False,
            error=msgspec.structs.replace(
                error, message=f"{error.message} (LLM fallback failed: {exc})"
            ),
        )
    if answer.get("proceed") is not True:
        return NodeResult(
            succeeded=False,
            error=msgspec.structs.replace(
                error, message=f"{error.message} (LLM fallback declined to proceed)"
            ),
        )
    reason = f"tool failed ({error.code.value}): {error.message}"
    output = {
        "node_type": node_type,
        **handler.fallback_fields(request),
        "fallback_used": True,
        "fallback_reason": reason,
        "fallback": {
            "summary": str(answer.get("summary", "")),
            "assumed_state": str(answer.get("assumed_state", "")),
        },
        "artifact": request.last_state,
    }
    return NodeResult(
        succeeded=True,
        output=output,
        warnings=[f"{node_type} node continued by LLM fallback: {reason}"],
    )


async def _summarise(request: NodeRequest[Any], outcome: NodeOutcome) -> None:
    """Add the optional, non-authoritative summary; a failure is a warning, not an error."""
    try:
        answer = await request.models.complete_json(
            model=request.config.model,
            instructions="Summarise for a human, in one or two sentences, what this node did.",
            payload={"output": outcome.output},
            schema_name="node_summary",
            schema=_SUMMARY_SCHEMA,
        )
        outcome.output["summary"] = str(answer.get("summary", ""))
    except ModelUnavailable as exc:
        outcome.warnings.append(f"summary unavailable: {exc}")
