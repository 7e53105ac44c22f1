"""The tools one task node-run attempt may call: its allowlist resolved against toolhub's
registry, its journal, and the calls themselves.

Every call goes through toolhub's tool runtime with the node's allowlist and the idempotency
key ``"<node_run_id>:<attempt>:<index>"``: the allowlist is enforced there, never by prompt,
and a call is never made twice. When the attempt is executed again (its command redelivered
after a crash), :func:`open_node_tools` reads the journal of calls already made; the loop
replays them into the conversation and goes on from the next index, so the model neither
starts over nor repeats an effect.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from llmctl_contracts import ErrorBody, ErrorCode, FieldError
from llmctl_contracts.commands import ExecuteNode
from llmctl_contracts.flowchart import TaskNode
from llmctl_contracts.tools import ToolCallRecord, ToolCallResult, ToolDescriptor, ToolStatus
from llmctl_libs.rpc import RpcError
from llmctl_libs.tools import NodeRunTools, ToolCallError, ToolClient

from .errors import TaskFailure
from .providers import ToolCall
from .providers.conversation import (
    assistant_tool_turn,
    error_result,
    output_result,
    tool_result_message,
)

__all__ = ["NodeTools", "open_node_tools"]


@dataclass(slots=True)
class NodeTools:
    """The tools of one attempt.

    Attributes:
        descriptors: The allowed tools, as offered to the model.
        invoker: Calls tools with the next call index.
        journal: Calls this attempt made before it was executed again (usually empty).
        calls: Every call of the attempt, journal first: ``{index, tool, status, call_id,
            replayed}`` for the artifact.
    """

    descriptors: list[ToolDescriptor]
    invoker: NodeRunTools
    journal: list[ToolCallRecord]
    calls: list[dict[str, Any]] = field(init=False)

    def __post_init__(self) -> None:
        self.calls = [_summary(r.call_index, r) for r in self.journal]

    def replayed_turns(self) -> list[dict[str, Any]]:
        """The journal as conversation turns (one call per turn, ids ``call_<index>``)."""
        turns: list[dict[str, Any]] = []
        for record in self.journal:
            call = ToolCall(
                id=f"call_{record.call_index}",
                name=record.tool,
                arguments=json.dumps(record.arguments, sort_keys=True),
            )
            turns.append(assistant_tool_turn("", [call]))
            turns.append(tool_result_message(call, _record_result(record)))
        return turns

    async def run(self, call: ToolCall) -> dict[str, Any]:
        """Make one call the model asked for; its result for the model (never raises for a
        tool's own failure: the model sees the error and may correct itself).

        Raises:
            TaskFailure: ``unavailable`` when toolhub did not answer.
        """
        try:
            arguments = json.loads(call.arguments or "{}")
        except ValueError as exc:
            return _bad_arguments(f"not valid JSON: {exc}")
        if not isinstance(arguments, dict):
            return _bad_arguments("must be a JSON object")
        index = self.invoker.next_index
        try:
            output = await self.invoker(call.name, arguments)
        except ToolCallError as exc:
            if exc.result is None:
                raise TaskFailure(
                    ErrorBody(
                        code=ErrorCode.UNAVAILABLE,
                        message=f"tool {call.name!r} could not be called: {exc.body.message}",
                    )
                ) from exc
            self.calls.append(_summary(index, exc.result))
            return error_result(exc.body)
        result = self.invoker.results[-1]
        self.calls.append(_summary(index, result))
        return output_result(output, result.warnings)


def _summary(index: int | None, call: ToolCallResult | ToolCallRecord) -> dict[str, Any]:
    """A call as the artifact lists it (a journal record counts as replayed: this execution
    did not make it)."""
    return {
        "index": index,
        "tool": call.tool,
        "status": call.status.value,
        "call_id": call.call_id,
        "replayed": call.replayed or isinstance(call, ToolCallRecord),
    }


def _record_result(record: ToolCallRecord) -> dict[str, Any]:
    if record.status is ToolStatus.ERROR or record.output is None:
        return error_result(
            record.error or ErrorBody(code=ErrorCode.INTERNAL, message="no output recorded")
        )
    return output_result(record.output, record.warnings)


def _bad_arguments(reason: str) -> dict[str, Any]:
    return error_result(ErrorBody.for_field(ErrorCode.VALIDATION_FAILED, "arguments", reason))


def _toolhub_unavailable(exc: RpcError) -> TaskFailure:
    return TaskFailure(
        ErrorBody(code=ErrorCode.UNAVAILABLE, message=f"toolhub unavailable: {exc.body.message}")
    )


async def open_node_tools(
    client: ToolClient,
    command: ExecuteNode,
    *,
    run_id: str,
    request_id: str | None = None,
    correlation_id: str | None = None,
) -> NodeTools | None:
    """The tools of ``command``'s attempt; ``None`` when the node has no tool allowlist.

    Raises:
        TaskFailure: ``validation_failed`` naming ``tool_allowlist[i]`` when toolhub has no such
            tool; ``unavailable`` when toolhub does not answer.
    """
    node = command.node
    if not isinstance(node, TaskNode) or not node.tool_allowlist:
        return None
    try:
        registry = {t.name: t for t in await client.list_tools()}
        journal = await client.journal(node_run_id=command.node_run_id, attempt=command.attempt)
    except RpcError as exc:
        raise _toolhub_unavailable(exc) from exc
    unknown = [
        FieldError(field=f"tool_allowlist[{i}]", reason=f"toolhub has no tool named {name!r}")
        for i, name in enumerate(node.tool_allowlist)
        if name not in registry
    ]
    if unknown:
        raise TaskFailure(
            ErrorBody(
                code=ErrorCode.VALIDATION_FAILED,
                message=f"tool_allowlist names {len(unknown)} unknown tool(s)",
                details=unknown,
            )
        )
    next_index = max((r.call_index or 0 for r in journal), default=-1) + 1
    invoker = client.for_node_run(
        node_run_id=command.node_run_id,
        run_id=run_id,
        allowed_tools=list(node.tool_allowlist),
        request_id=request_id,
        correlation_id=correlation_id,
        start_index=next_index,
        attempt=command.attempt,
    )
    descriptors = [registry[name] for name in dict.fromkeys(node.tool_allowlist)]
    return NodeTools(descriptors=descriptors, invoker=invoker, journal=journal)
