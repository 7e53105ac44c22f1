"""Executes special nodes dispatched to toolhub (``llmctl.cmd.exec.toolhub``).

Memory, plan and milestone nodes run their deterministic tools (see :mod:`.nodes`); rag and
flowchart nodes are not executed by toolhub yet and fail at once with ``unavailable``, so a run
never hangs on a node nobody executes.

Tools are called through the shared tool framework, in process on toolhub's registry (same
allowlist, validation, audit and idempotency path as a call over the bus). A node may call only
its own domain's tools. Every call of an attempt is keyed ``<node_run_id>:<attempt>:<index>``
and its result recorded in the call's transaction, so a redelivered command replays the
recorded results instead of writing twice; the report's message id is derived from the node
run and attempt, so a second report is dropped.
"""

from __future__ import annotations

import time
from typing import Any

from llmctl_contracts import Envelope, ErrorBody, ErrorCode, decode_payload, subjects
from llmctl_contracts.commands import ExecuteNode, ModelBinding
from llmctl_contracts.events import NodeExecuted
from llmctl_contracts.rpc import ResolveModel
from llmctl_libs.bus import Bus
from llmctl_libs.reports import publish_execution_report
from llmctl_libs.rpc import call
from llmctl_libs.tools import ToolRuntime

from .nodes.execute import NodeResult, execute_special_node, handles
from .nodes.llm import OpenAIModelCaller
from .tools import SPECIAL_NODE_TOOLS

__all__ = ["SpecialNodeWorker"]


class SpecialNodeWorker:
    """Consumes ``llmctl.cmd.exec.toolhub`` and reports each attempt."""

    def __init__(self, bus: Bus, tools: ToolRuntime) -> None:
        self._bus = bus
        self._tools = tools
        self._models = OpenAIModelCaller(self._resolve_model)

    async def _resolve_model(self, name: str | None) -> ModelBinding:
        return await call(
            self._bus,
            subjects.rpc("models", "model.resolve"),
            ResolveModel(name=name),
            ModelBinding,
        )

    async def __call__(self, envelope: Envelope) -> None:
        command = decode_payload(envelope, ExecuteNode)
        node_type = type(command.node).__struct_config__.tag
        assert isinstance(node_type, str)
        started = time.time()
        if handles(node_type):
            tools = self._tools.for_node_run(
                node_run_id=command.node_run_id,
                run_id=envelope.run_id or "",
                allowed_tools=SPECIAL_NODE_TOOLS[node_type],
                attempt=command.attempt,
                request_id=envelope.request_id,
                correlation_id=envelope.correlation_id,
            )
            result = await execute_special_node(
                command.node, command.input_context, tools, self._models
            )
        else:
            result = NodeResult(
                succeeded=False,
                error=ErrorBody(
                    code=ErrorCode.UNAVAILABLE,
                    message=f"{node_type} nodes are not available: this toolhub version has no "
                    f"{node_type} tools yet",
                ),
            )
        report = NodeExecuted(
            node_run_id=command.node_run_id,
            node_id=command.node.id,
            attempt=command.attempt,
            succeeded=result.succeeded,
            output=result.output,
            error=result.error,
            warnings=result.warnings,
            artifact=_artifact_detail(result),
            started_at=started,
            finished_at=time.time(),
            worker_id="toolhub",
        )
        await publish_execution_report(self._bus, envelope, report)


def _artifact_detail(result: NodeResult) -> dict[str, Any] | None:
    """The node's final domain state for its node-run artifact (small: ids and final state;
    downstream nodes see the same ``artifact`` in the output)."""
    if not result.output:
        return None
    return {
        "state": result.output.get("artifact"),
        "fallback_used": bool(result.output.get("fallback_used")),
        "fallback_reason": result.output.get("fallback_reason"),
    }
