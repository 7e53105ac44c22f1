"""The provider-neutral conversation of a task node: OpenAI chat-shaped message dicts.

* ``{"role": "system" | "user", "content": str}``;
* ``{"role": "assistant", "content": str | None, "tool_calls": [...]}``, each call
  ``{"id", "type": "function", "function": {"name", "arguments": <JSON text>}}`` (plus
  ``signature``, a provider's opaque state for the call, when it gave one);
* ``{"role": "tool", "tool_call_id", "name", "content": <JSON text>, "is_error": bool}``: a
  tool's result, ``{"output": ...}`` (plus ``warnings`` when the tool warned) or
  ``{"error": {code, message, details}}``.

Adapters convert this to their provider's shape; the task's artifact keeps
it as sent.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

from llmctl_contracts import ErrorBody

from .base import ToolCall

__all__ = [
    "arguments_object",
    "assistant_tool_turn",
    "error_result",
    "output_result",
    "tool_calls_of",
    "tool_result_message",
]


def assistant_tool_turn(text: str, calls: list[ToolCall]) -> dict[str, Any]:
    """The assistant turn that asked for ``calls``."""
    return {"role": "assistant", "content": text or None, "tool_calls": [_call(c) for c in calls]}


def _call(call: ToolCall) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": call.arguments},
    }
    if call.signature is not None:
        entry["signature"] = call.signature
    return entry


def tool_calls_of(message: dict[str, Any]) -> list[ToolCall]:
    """The tool calls of an assistant turn (none for any other message)."""
    return [
        ToolCall(
            id=c["id"],
            name=c["function"]["name"],
            arguments=c["function"]["arguments"],
            signature=c.get("signature"),
        )
        for c in message.get("tool_calls") or []
    ]


def output_result(output: dict[str, Any], warnings: list[str]) -> dict[str, Any]:
    """A successful tool result."""
    return {"output": output, "warnings": warnings} if warnings else {"output": output}


def error_result(error: ErrorBody) -> dict[str, Any]:
    """A failed tool result (the model sees the shared error shape)."""
    return {"error": msgspec.to_builtins(error)}


def tool_result_message(call: ToolCall, result: dict[str, Any]) -> dict[str, Any]:
    """The message answering ``call`` with ``result`` (:func:`output_result` or
    :func:`error_result`)."""
    return {
        "role": "tool",
        "tool_call_id": call.id,
        "name": call.name,
        "content": json.dumps(result, sort_keys=True, default=str),
        "is_error": "error" in result,
    }


def arguments_object(arguments: str) -> dict[str, Any]:
    """A call's arguments as an object for providers that send objects (Anthropic, Gemini);
    text that is not a JSON object is kept under ``_raw``."""
    try:
        value = json.loads(arguments or "{}")
    except ValueError:
        return {"_raw": arguments}
    return value if isinstance(value, dict) else {"_raw": arguments}
