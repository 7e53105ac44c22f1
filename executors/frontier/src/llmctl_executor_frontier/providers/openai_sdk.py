"""OpenAI (and OpenAI-compatible endpoints) through the official ``openai`` SDK."""

from __future__ import annotations

from typing import Any

import openai
from openai.types.chat import ChatCompletionMessageFunctionToolCall

from llmctl_libs.tools import render_openai

from .base import (
    Completion,
    CompletionRequest,
    ProviderAdapter,
    ProviderError,
    ProviderUnavailable,
    ToolCall,
)
from .clients import ClientsByCredential

__all__ = ["OpenAIAdapter", "openai_messages"]


def openai_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The neutral conversation as Chat Completions messages (without the fields the API
    does not take)."""
    converted: list[dict[str, Any]] = []
    for m in messages:
        if m["role"] == "tool":
            m = {"role": "tool", "tool_call_id": m["tool_call_id"], "content": m["content"]}
        elif m.get("tool_calls"):
            m = {
                **m,
                "tool_calls": [
                    {k: v for k, v in c.items() if k != "signature"} for c in m["tool_calls"]
                ],
            }
        converted.append(m)
    return converted


class OpenAIAdapter(ProviderAdapter):
    """Chat Completions with ``response_format`` JSON Schema for structured output and
    function tools."""

    def __init__(self) -> None:
        self._clients = ClientsByCredential(
            lambda base_url, api_key: openai.AsyncOpenAI(
                base_url=base_url, api_key=api_key, max_retries=1
            )
        )

    async def complete(self, request: CompletionRequest) -> Completion:
        model = request.model
        client = self._clients.get(model.base_url, model.api_key_ref)
        kwargs: dict[str, Any] = {}
        if request.json_schema is not None:
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": "node_output",
                    "schema": request.json_schema,
                    "strict": False,
                },
            }
        if request.tools:
            kwargs["tools"] = render_openai(request.tools)
        effort = model.settings.get("reasoning_effort")
        if isinstance(effort, str):
            kwargs["reasoning_effort"] = effort
        try:
            response = await client.chat.completions.create(
                model=model.provider_model_id,
                messages=openai_messages(request.messages),  # type: ignore[arg-type]
                timeout=request.timeout_seconds,
                **kwargs,
            )
        except (openai.APIConnectionError, openai.AuthenticationError, openai.NotFoundError) as exc:
            raise ProviderUnavailable(
                f"{model.provider} model {model.name!r}: {type(exc).__name__}"
            ) from exc
        except openai.APIStatusError as exc:
            raise ProviderError(
                f"{model.provider} model {model.name!r}: HTTP {exc.status_code} {exc.message}",
                exc.status_code,
            ) from exc
        choice = response.choices[0]
        usage = response.usage
        calls = [
            ToolCall(id=c.id, name=c.function.name, arguments=c.function.arguments)
            for c in choice.message.tool_calls or []
            if isinstance(c, ChatCompletionMessageFunctionToolCall)
        ]
        return Completion(
            text=choice.message.content or "",
            tool_calls=calls,
            usage={
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
            }
            if usage
            else {},
        )
