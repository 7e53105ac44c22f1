"""Runs one task-node attempt: resolve the model, call it (and the node's tools, when it has
an allowlist), enforce the output schema."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from llmctl_contracts import ErrorBody, ErrorCode, FieldError
from llmctl_contracts.commands import ExecuteNode, ModelBinding
from llmctl_contracts.flowchart import TaskNode

from .errors import TaskFailure
from .node_tools import NodeTools
from .prompt import compose_messages, repair_message
from .providers import (
    Completion,
    CompletionRequest,
    ProviderAdapter,
    ProviderError,
    ProviderRegistry,
    ProviderUnavailable,
)
from .providers.conversation import assistant_tool_turn, tool_result_message
from .structured import check_schema, validate_output

__all__ = ["TaskFailure", "TaskOutcome", "run_task"]


@dataclass(frozen=True, slots=True)
class TaskOutcome:
    """A successful attempt's output and what it took."""

    output: dict[str, Any]
    usage: dict[str, int] = field(default_factory=dict)
    schema_attempts: int = 1
    messages: list[dict[str, Any]] = field(default_factory=list)
    model: ModelBinding | None = None
    tool_rounds: int = 0
    tool_calls: list[dict[str, Any]] = field(default_factory=list)

    def artifact(self) -> dict[str, Any]:
        """The task's final-state artifact detail: the conversation sent (tool turns and
        repairs included), the model that answered, the tool calls and what it took (never a
        credential)."""
        model = self.model
        return {
            "messages": self.messages,
            "model": None if model is None else model.name,
            "provider": None if model is None else model.provider,
            "provider_model_id": None if model is None else model.provider_model_id,
            "usage": self.usage,
            "schema_attempts": self.schema_attempts,
            "tool_rounds": self.tool_rounds,
            "tool_calls": self.tool_calls,
        }


def _failure(
    code: ErrorCode, message: str, field_errors: list[FieldError] | None = None
) -> TaskFailure:
    return TaskFailure(ErrorBody(code=code, message=message, details=field_errors or []))


async def _complete(adapter: ProviderAdapter, request: CompletionRequest) -> Completion:
    try:
        return await adapter.complete(request)
    except ProviderUnavailable as exc:
        raise _failure(ErrorCode.UNAVAILABLE, str(exc)) from exc
    except ProviderError as exc:
        # a refused request (4xx) will not pass on a retry either; 429/5xx may
        code = (
            ErrorCode.VALIDATION_FAILED
            if 400 <= exc.status < 500 and exc.status != 429
            else ErrorCode.INTERNAL
        )
        raise _failure(code, str(exc)) from exc


async def run_task(
    command: ExecuteNode,
    model: ModelBinding,
    providers: ProviderRegistry,
    tools: NodeTools | None = None,
) -> TaskOutcome:
    """Execute ``command`` (a task node) against ``model``.

    With ``tools``, the model may ask for tool calls: each is made through toolhub and its
    result given back, for at most ``node.max_tool_rounds`` turns; the reply without tool
    calls is the answer, held to the output schema like any other.

    Raises:
        TaskFailure: ``unavailable`` for provider or toolhub problems (fail at once, no fallback
            model), ``validation_failed`` when the output never satisfied the schema or the
            model kept asking for tools.
    """
    node = command.node
    if not isinstance(node, TaskNode):
        raise _failure(ErrorCode.VALIDATION_FAILED, "not a task node")
    schema = node.output_schema
    if schema is not None and (problems := check_schema(schema)):
        raise _failure(
            ErrorCode.VALIDATION_FAILED,
            f"output_schema is not a valid JSON Schema: {problems[0]}",
            [FieldError(field="output_schema", reason=p) for p in problems[:10]],
        )
    try:
        adapter = providers.adapter(model.provider)
    except ProviderUnavailable as exc:
        raise _failure(ErrorCode.UNAVAILABLE, str(exc)) from exc
    messages = compose_messages(node, command.input_context)
    tool_rounds = 0
    if tools is not None:
        messages.extend(tools.replayed_turns())
        tool_rounds = len(tools.journal)
    usage: dict[str, int] = {}
    errors: list[str] = []
    schema_attempt = 1
    while True:
        completion = await _complete(
            adapter,
            CompletionRequest(
                model=model,
                messages=messages,
                json_schema=schema,
                timeout_seconds=command.timeout_seconds,
                tools=[] if tools is None else tools.descriptors,
            ),
        )
        for key, value in completion.usage.items():
            usage[key] = usage.get(key, 0) + value
        if tools is not None and completion.tool_calls:
            if tool_rounds >= node.max_tool_rounds:
                reason = f"the model still asked for tools after {node.max_tool_rounds} rounds"
                raise _failure(
                    ErrorCode.VALIDATION_FAILED,
                    reason,
                    [FieldError(field="max_tool_rounds", reason=reason)],
                )
            tool_rounds += 1
            messages.append(assistant_tool_turn(completion.text, completion.tool_calls))
            for call in completion.tool_calls:
                messages.append(tool_result_message(call, await tools.run(call)))
            continue
        if schema is None:
            document: dict[str, Any] | None = {"text": completion.text}
        else:
            document, errors = validate_output(completion.text, schema)
        if document is not None:
            return TaskOutcome(
                output=document,
                usage=usage,
                schema_attempts=schema_attempt,
                messages=messages,
                model=model,
                tool_rounds=tool_rounds,
                tool_calls=[] if tools is None else tools.calls,
            )
        if schema_attempt > node.schema_retry_attempts:
            raise _failure(
                ErrorCode.VALIDATION_FAILED,
                f"output failed the schema after {node.schema_retry_attempts + 1} attempts",
                [FieldError(field="output", reason=e) for e in errors[:10]],
            )
        schema_attempt += 1
        messages = [
            *messages,
            {"role": "assistant", "content": completion.text},
            repair_message(errors),
        ]
