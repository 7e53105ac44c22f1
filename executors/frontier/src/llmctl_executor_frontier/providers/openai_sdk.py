"""OpenAI (and OpenAI-compatible endpoints) through the official ``openai`` SDK."""

from __future__ import annotations

from typing import Any

import openai

from .base import Completion, CompletionRequest, ProviderAdapter, ProviderUnavailable
from .clients import ClientsByCredential

__all__ = ["OpenAIAdapter"]


class OpenAIAdapter(ProviderAdapter):
    """Chat Completions with ``response_format`` JSON Schema for structured output."""

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
        effort = model.settings.get("reasoning_effort")
        if isinstance(effort, str):
            kwargs["reasoning_effort"] = effort
        try:
            response = await client.chat.completions.create(
                model=model.provider_model_id,
                messages=request.messages,  # type: ignore[arg-type]
                timeout=request.timeout_seconds,
                **kwargs,
            )
        except (openai.APIConnectionError, openai.AuthenticationError, openai.NotFoundError) as exc:
            raise ProviderUnavailable(
                f"{model.provider} model {model.name!r}: {type(exc).__name__}"
            ) from exc
        choice = response.choices[0]
        usage = response.usage
        return Completion(
            text=choice.message.content or "",
            usage={
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
            }
            if usage
            else {},
        )
