"""Runs one task-node attempt: resolve the model, call it, enforce the output schema."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from llmctl_contracts import ErrorBody, ErrorCode, FieldError
from llmctl_contracts.commands import ExecuteNode, ModelBinding
from llmctl_contracts.flowchart import TaskNode

from .prompt import compose_messages, repair_message
from .providers import CompletionRequest, ProviderRegistry, ProviderUnavailable
from .structured import check_schema, validate_output

__all__ = ["TaskFailure", "TaskOutcome", "run_task"]


class TaskFailure(Exception):
    """The attempt failed; ``body`` says why in the shared error shape."""

    def __init__(self, body: ErrorBody) -> None:
        super().__init__(body.message)
        self.body = body


@dataclass(frozen=True, slots=True)
class TaskOutcome:
    """A successful attempt's output and what it took."""

    output: dict[str, Any]
    usage: dict[str, int] = field(default_factory=dict)
    schema_attempts: int = 1
    messages: list[dict[str, str]] = field(default_factory=list)
    model: ModelBinding | None = None

    def artifact(self) -> dict[str, Any]:
        """The task's final-state artifact detail: the prompt sent (repairs included), the
        model that answered and what it took (never a credential)."""
        model = self.model
        return {
            "messages": self.messages,
            "model": None if model is None else model.name,
            "provider": None if model is None else model.provider,
            "provider_model_id": None if model is None else model.provider_model_id,
            "usage": self.usage,
            "schema_attempts": self.schema_attempts,
        }


async def run_task(
    command: ExecuteNode, model: ModelBinding, providers: ProviderRegistry
) -> TaskOutcome:
    """Execute ``command`` (a task node) against ``model``.

    Raises:
        TaskFailure: ``unavailable`` for provider problems (fail at once, no fallback model),
            ``validation_failed`` when the output never satisfied the schema.
    """
    node = command.node
    if not isinstance(node, TaskNode):
        raise TaskFailure(ErrorBody(code=ErrorCode.VALIDATION_FAILED, message="not a task node"))
    schema = node.output_schema
    if schema is not None and (problems := check_schema(schema)):
        raise TaskFailure(
            ErrorBody(
                code=ErrorCode.VALIDATION_FAILED,
                message=f"output_schema is not a valid JSON Schema: {problems[0]}",
                details=[FieldError(field="output_schema", reason=p) for p in problems[:10]],
            )
        )
    try:
        adapter = providers.adapter(model.provider)
    except ProviderUnavailable as exc:
        raise TaskFailure(ErrorBody(code=ErrorCode.UNAVAILABLE, message=str(exc))) from exc
    messages = compose_messages(node, command.input_context)
    usage: dict[str, int] = {}
    errors: list[str] = []
    for attempt in range(1, node.schema_retry_attempts + 2):
        try:
            completion = await adapter.complete(
                CompletionRequest(
                    model=model,
                    messages=messages,
                    json_schema=schema,
                    timeout_seconds=command.timeout_seconds,
                )
            )
        except ProviderUnavailable as exc:
            raise TaskFailure(ErrorBody(code=ErrorCode.UNAVAILABLE, message=str(exc))) from exc
        for key, value in completion.usage.items():
            usage[key] = usage.get(key, 0) + value
        if schema is None:
            return TaskOutcome(
                output={"text": completion.text},
                usage=usage,
                schema_attempts=attempt,
                messages=messages,
                model=model,
            )
        document, errors = validate_output(completion.text, schema)
        if document is not None:
            return TaskOutcome(
                output=document,
                usage=usage,
                schema_attempts=attempt,
                messages=messages,
                model=model,
            )
        messages = [
            *messages,
            {"role": "assistant", "content": completion.text},
            repair_message(errors),
        ]
    raise TaskFailure(
        ErrorBody(
            code=ErrorCode.VALIDATION_FAILED,
            message=f"output failed the schema after {node.schema_retry_attempts + 1} attempts",
            details=[FieldError(field="output", reason=e) for e in errors[:10]],
        )
    )
