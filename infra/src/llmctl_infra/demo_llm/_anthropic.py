"""The Anthropic Messages API (``POST /v1/messages``) answers of the offline demo model.

Structured output: a forced tool (``tool_choice: {type: tool, name}``) is answered with a
``tool_use`` block whose ``input`` is an example of the tool's ``input_schema``;
``output_config.format`` (``json_schema``) is answered with an example document as text.
Extended thinking (``thinking.type: enabled``) adds a ``thinking`` block first.
``tool_choice: {type: any}`` is answered with the tool named ``node_output`` when it is
offered (the executor's structured-output tool), else the first tool. Directed tool calls
(``[demo:call]``, see :mod:`._wire`) come first, as ``tool_use`` blocks.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from llmctl_infra.demo_llm._schema import example_for_schema
from llmctl_infra.demo_llm._wire import (
    INVALID_TEXT_ANSWER,
    RequestError,
    pending_tool_calls,
    text_of,
    tokens,
    wants_invalid_answer,
    with_tool_results,
)

__all__ = ["build_message"]


def _forced_tool(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    choice = body.get("tool_choice")
    if not isinstance(choice, Mapping) or choice.get("type") not in ("tool", "any"):
        return None
    tools = body.get("tools")
    if not isinstance(tools, list) or not tools:
        raise RequestError("tool_choice forces a tool but no tools are given", "tools")
    name = choice.get("name")
    if name is None and any(
        isinstance(t, Mapping) and t.get("name") == "node_output" for t in tools
    ):
        name = "node_output"
    for tool in tools:
        if isinstance(tool, Mapping) and (name is None or tool.get("name") == name):
            schema = tool.get("input_schema")
            if not isinstance(schema, Mapping) or schema.get("type") != "object":
                raise RequestError("tools.input_schema must be an object schema", "tools")
            return tool
    raise RequestError(f"tool_choice names an unknown tool {name!r}", "tool_choice")


def _output_format(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    config = body.get("output_config")
    if not isinstance(config, Mapping):
        return None
    fmt = config.get("format")
    if fmt is None:
        return None
    if not isinstance(fmt, Mapping) or fmt.get("type") != "json_schema":
        raise RequestError("output_config.format.type must be json_schema", "output_config")
    if not isinstance(fmt.get("schema"), Mapping):
        raise RequestError("output_config.format.schema must be an object", "output_config")
    return fmt


def _tool_results(messages: list[Mapping[str, Any]]) -> list[Any]:
    results: list[Any] = []
    for message in messages:
        content = message.get("content")
        if message.get("role") == "user" and isinstance(content, list):
            results.extend(
                block.get("content")
                for block in content
                if isinstance(block, Mapping) and block.get("type") == "tool_result"
            )
    return results


def build_message(body: Mapping[str, Any]) -> dict[str, Any]:
    """Return an Anthropic ``message`` object for a Messages API request body.

    Raises:
        RequestError: The body is malformed.
    """
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise RequestError("model: Field required", "model")
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise RequestError("max_tokens: must be a positive integer", "max_tokens")
    if body.get("stream"):
        raise RequestError("the offline demo model does not stream", "stream")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError("messages: must be a non-empty array", "messages")
    if not all(isinstance(m, Mapping) and m.get("role") in ("user", "assistant") for m in messages):
        raise RequestError("messages: each message needs role user or assistant", "messages")
    user_texts = [t for m in messages if m["role"] == "user" if (t := text_of(m.get("content")))]
    invalid = wants_invalid_answer(user_texts, any(m["role"] == "assistant" for m in messages))
    results = _tool_results(messages)
    pending = pending_tool_calls(user_texts, bool(body.get("tools")), len(results))
    content: list[dict[str, Any]] = []
    thinking = body.get("thinking")
    if isinstance(thinking, Mapping) and thinking.get("type") == "enabled":
        content.append(
            {"type": "thinking", "thinking": "Thinking offline.", "signature": "offline-demo"}
        )
    tool = _forced_tool(body)
    fmt = _output_format(body)
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()
    if pending:
        content.extend(
            {
                "type": "tool_use",
                "id": f"toolu_demo_{len(results) + i}",
                "name": name,
                "input": arguments,
            }
            for i, (name, arguments) in enumerate(pending)
        )
        answer = json.dumps([name for name, _ in pending])
        stop_reason = "tool_use"
    elif tool is not None:
        example = {} if invalid else example_for_schema(tool["input_schema"])
        content.append(
            {
                "type": "tool_use",
                "id": f"toolu_demo_{digest[:20]}",
                "name": tool["name"],
                "input": example,
            }
        )
        answer = json.dumps(example)
        stop_reason = "tool_use"
    else:
        if invalid:
            answer = INVALID_TEXT_ANSWER
        elif fmt is not None:
            answer = json.dumps(example_for_schema(fmt["schema"]))
        else:
            answer = with_tool_results(
                f"Offline demo model reply to: {user_texts[-1] if user_texts else ''}", results
            )
        content.append({"type": "text", "text": answer})
        stop_reason = "end_turn"
    prompt = " ".join([text_of(body.get("system")), *(text_of(m.get("content")) for m in messages)])
    return {
        "id": f"msg_demo_{digest[:24]}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": tokens(prompt), "output_tokens": tokens(answer)},
    }
