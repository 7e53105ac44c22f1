"""Anthropic through the official ``anthropic`` SDK (Messages API).

Structured output: without extended thinking and for an object-rooted schema, a forced tool
``node_output`` whose ``input_schema`` is the node's output schema (the reply is the tool
input); with extended thinking (Anthropic refuses a forced tool then) or a non-object schema,
``output_config.format`` (``json_schema``) and the reply text. Settings: ``max_tokens``,
``temperature`` (sent through ``extra_body``: anthropic 2.x no longer lists it on
``messages.create``; left out with thinking, which requires the default), ``thinking_enabled`` +
``thinking_budget_tokens`` -> ``thinking: {type: enabled, budget_tokens}``.

Tools: the node's tools are offered next to ``node_output``; a model that must produce a
structured output then gets ``tool_choice: any`` (it calls tools, then ``node_output``).
Assistant tool calls become ``tool_use`` blocks and tool results one user turn of
``tool_result`` blocks.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import anthropic

from llmctl_libs.tools import render_anthropic

from .base import (
    Completion,
    CompletionRequest,
    ProviderAdapter,
    ProviderError,
    ProviderUnavailable,
    ToolCall,
)
from .clients import ClientsByCredential
from .conversation import arguments_object, tool_calls_of

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "NODE_OUTPUT_TOOL",
    "AnthropicAdapter",
    "anthropic_arguments",
    "anthropic_messages",
]

NODE_OUTPUT_TOOL = "node_output"
DEFAULT_MAX_TOKENS = 4096
DEFAULT_THINKING_BUDGET = 1024


def _thinking(settings: Mapping[str, Any], max_tokens: int) -> dict[str, Any] | None:
    if not settings.get("thinking_enabled"):
        return None
    budget = settings.get("thinking_budget_tokens")
    if not isinstance(budget, int):
        budget = min(DEFAULT_THINKING_BUDGET, max_tokens - 1)
    return {"type": "enabled", "budget_tokens": budget}


def _assistant_content(message: dict[str, Any]) -> str | list[dict[str, Any]]:
    calls = tool_calls_of(message)
    if not calls:
        return str(message["content"] or "")
    blocks: list[dict[str, Any]] = []
    if message.get("content"):
        blocks.append({"type": "text", "text": message["content"]})
    blocks.extend(
        {"type": "tool_use", "id": c.id, "name": c.name, "input": arguments_object(c.arguments)}
        for c in calls
    )
    return blocks


def anthropic_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The neutral conversation (system messages left out) as Messages API turns."""
    turns: list[dict[str, Any]] = []
    for m in messages:
        if m["role"] == "system":
            continue
        if m["role"] == "tool":
            block: dict[str, Any] = {
                "type": "tool_result",
                "tool_use_id": m["tool_call_id"],
                "content": m["content"],
            }
            if m.get("is_error"):
                block["is_error"] = True
            last = turns[-1] if turns else None
            if last is not None and last["role"] == "user" and isinstance(last["content"], list):
                last["content"].append(block)
            else:
                turns.append({"role": "user", "content": [block]})
        elif m["role"] == "assistant":
            turns.append({"role": "assistant", "content": _assistant_content(m)})
        else:
            turns.append({"role": m["role"], "content": m["content"]})
    return turns


def anthropic_arguments(request: CompletionRequest) -> dict[str, Any]:
    """The ``messages.create`` keyword arguments for ``request`` (no client options)."""
    model = request.model
    settings = model.settings
    max_tokens = settings.get("max_tokens")
    if not isinstance(max_tokens, int):
        max_tokens = DEFAULT_MAX_TOKENS
    system = "\n\n".join(m["content"] for m in request.messages if m["role"] == "system")
    kwargs: dict[str, Any] = {
        "model": model.provider_model_id,
        "max_tokens": max_tokens,
        "messages": anthropic_messages(request.messages),
    }
    if system:
        kwargs["system"] = system
    thinking = _thinking(settings, max_tokens)
    if thinking is not None:
        kwargs["thinking"] = thinking
    elif isinstance(settings.get("temperature"), int | float):
        # anthropic 2.x no longer lists sampling parameters on messages.create: sent as is
        kwargs["extra_body"] = {"temperature": settings["temperature"]}
    tools = render_anthropic(request.tools)
    schema = request.json_schema
    if schema is not None:
        if thinking is None and schema.get("type") == "object":
            tools.append(
                {
                    "name": NODE_OUTPUT_TOOL,
                    "description": "Record the node's output (a JSON document of the schema).",
                    "input_schema": schema,
                }
            )
            kwargs["tool_choice"] = (
                {"type": "any"} if request.tools else {"type": "tool", "name": NODE_OUTPUT_TOOL}
            )
        else:
            kwargs["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
    if tools:
        kwargs["tools"] = tools
    return kwargs


class AnthropicAdapter(ProviderAdapter):
    """Messages API; the node output is a forced tool's input or the JSON reply text."""

    def __init__(self) -> None:
        self._clients = ClientsByCredential(
            lambda base_url, api_key: anthropic.AsyncAnthropic(
                base_url=base_url, api_key=api_key, max_retries=1
            )
        )

    async def complete(self, request: CompletionRequest) -> Completion:
        model = request.model
        client = self._clients.get(model.base_url, model.api_key_ref)
        try:
            message = await client.messages.create(
                **anthropic_arguments(request), timeout=request.timeout_seconds
            )
        except (
            anthropic.APIConnectionError,
            anthropic.AuthenticationError,
            anthropic.PermissionDeniedError,
            anthropic.NotFoundError,
        ) as exc:
            raise ProviderUnavailable(
                f"{model.provider} model {model.name!r}: {type(exc).__name__}"
            ) from exc
        except anthropic.APIStatusError as exc:
            raise ProviderError(
                f"{model.provider} model {model.name!r}: HTTP {exc.status_code} {exc.message}",
                exc.status_code,
            ) from exc
        text = ""
        output: str | None = None
        calls: list[ToolCall] = []
        for block in message.content:
            if block.type == "tool_use" and block.name == NODE_OUTPUT_TOOL:
                output = json.dumps(block.input)
            elif block.type == "tool_use":
                calls.append(
                    ToolCall(id=block.id, name=block.name, arguments=json.dumps(block.input))
                )
            elif block.type == "text":
                text += block.text
        if output is not None and not calls:
            text = output
        return Completion(
            text=text,
            tool_calls=calls,
            usage={
                "prompt_tokens": message.usage.input_tokens,
                "completion_tokens": message.usage.output_tokens,
            },
        )
