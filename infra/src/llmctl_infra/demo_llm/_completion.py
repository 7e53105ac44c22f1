"""Building the deterministic chat completion the offline demo model returns."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from llmctl_infra.demo_llm._schema import example_for_schema
from llmctl_infra.demo_llm._wire import (
    RequestError,
    pending_tool_calls,
    text_of,
    tokens,
    with_tool_results,
)

__all__ = ["DEMO_MODEL", "RequestError", "build_completion", "completion_content"]

DEMO_MODEL = "offline-demo"


def _last_user_message(messages: Sequence[Mapping[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return text_of(message.get("content"))
    return ""


def completion_content(body: Mapping[str, Any]) -> str:
    """Return the assistant message content for a request body.

    Raises:
        RequestError: ``messages`` or ``response_format`` is malformed.
    """
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError("messages must be a non-empty array", "messages")
    if not all(isinstance(m, Mapping) for m in messages):
        raise RequestError("each message must be an object", "messages")
    prompt = _last_user_message(messages)
    response_format = body.get("response_format") or {}
    kind = response_format.get("type", "text") if isinstance(response_format, Mapping) else None
    if kind == "json_schema":
        spec = response_format.get("json_schema")
        if not isinstance(spec, Mapping) or not isinstance(spec.get("schema", {}), Mapping):
            raise RequestError(
                "response_format.json_schema.schema must be an object", "response_format"
            )
        return json.dumps(example_for_schema(spec.get("schema", {})))
    if kind == "json_object":
        return json.dumps({"answer": "demo", "prompt": prompt})
    if kind != "text":
        raise RequestError(f"unsupported response_format: {response_format!r}", "response_format")
    results = [text_of(m.get("content")) for m in messages if m.get("role") == "tool"]
    return with_tool_results(f"Offline demo model reply to: {prompt}", results)


def _tool_calls(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    messages = body.get("messages")
    if not isinstance(messages, list):
        return []
    messages = [m for m in messages if isinstance(m, Mapping)]
    answered = sum(1 for m in messages if m.get("role") == "tool")
    user_texts = [text_of(m.get("content")) for m in messages if m.get("role") == "user"]
    pending = pending_tool_calls(user_texts, bool(body.get("tools")), answered)
    return [
        {
            "id": f"call_demo_{answered + i}",
            "type": "function",
            "function": {"name": name, "arguments": json.dumps(arguments)},
        }
        for i, (name, arguments) in enumerate(pending)
    ]


def build_completion(body: Mapping[str, Any]) -> dict[str, Any]:
    """Return an OpenAI ``chat.completion`` object for a request body.

    Raises:
        RequestError: The body is malformed.
    """
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise RequestError("model is required", "model")
    if body.get("stream"):
        raise RequestError("the offline demo model does not stream", "stream")
    calls = _tool_calls(body)
    content = "" if calls else completion_content(body)
    message: dict[str, Any] = {"role": "assistant", "content": content or None, "refusal": None}
    if calls:
        message["tool_calls"] = calls
    prompt_text = " ".join(text_of(m.get("content")) for m in body["messages"])
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()
    prompt_tokens, completion_tokens = tokens(prompt_text), tokens(content)
    return {
        "id": f"chatcmpl-demo-{digest[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "offline-demo",
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": "tool_calls" if calls else "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }
