"""Gemini Developer API through the official ``google-genai`` SDK.

Structured output: ``response_mime_type: application/json`` + ``response_json_schema`` (the
node's schema, JSON Schema as is). Settings (shared with Vertex AI): ``temperature``,
``max_output_tokens``, ``thinking_budget`` and ``include_thoughts`` -> ``thinking_config``
(thought parts are not part of the reply text). System messages become the
``system_instruction``; assistant turns the ``model`` role.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import httpx2
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from llmctl_libs.credentials import read_credential

from .base import Completion, CompletionRequest, ProviderAdapter, ProviderUnavailable

__all__ = ["GeminiAdapter", "GenaiAdapter", "generate_content_arguments"]

_UNAVAILABLE_STATUS = frozenset({401, 403, 404})


def _generation_config(request: CompletionRequest) -> types.GenerateContentConfig:
    settings: Mapping[str, Any] = request.model.settings
    config: dict[str, Any] = {
        # google-genai takes the per-request timeout in milliseconds
        "http_options": types.HttpOptions(timeout=int(request.timeout_seconds * 1000)),
    }
    system = "\n\n".join(m["content"] for m in request.messages if m["role"] == "system")
    if system:
        config["system_instruction"] = system
    if isinstance(settings.get("temperature"), int | float):
        config["temperature"] = settings["temperature"]
    if isinstance(settings.get("max_output_tokens"), int):
        config["max_output_tokens"] = settings["max_output_tokens"]
    thinking: dict[str, Any] = {}
    if isinstance(settings.get("thinking_budget"), int):
        thinking["thinking_budget"] = settings["thinking_budget"]
    if settings.get("include_thoughts"):
        thinking["include_thoughts"] = True
    if thinking:
        config["thinking_config"] = types.ThinkingConfig(**thinking)
    if request.json_schema is not None:
        config["response_mime_type"] = "application/json"
        config["response_json_schema"] = request.json_schema
    return types.GenerateContentConfig(**config)


def generate_content_arguments(request: CompletionRequest) -> dict[str, Any]:
    """The ``models.generate_content`` keyword arguments for ``request``."""
    contents = [
        types.Content(
            role="model" if m["role"] == "assistant" else "user",
            parts=[types.Part(text=m["content"])],
        )
        for m in request.messages
        if m["role"] != "system"
    ]
    return {
        "model": request.model.provider_model_id,
        "contents": contents,
        "config": _generation_config(request),
    }


def _reply_text(response: types.GenerateContentResponse) -> str:
    candidates = response.candidates or []
    if not candidates or candidates[0].content is None:
        return ""
    return "".join(
        part.text for part in candidates[0].content.parts or [] if part.text and not part.thought
    )


class GenaiAdapter(ProviderAdapter):
    """``generate_content`` through a ``genai.Client`` the subclass builds per model."""

    def __init__(self) -> None:
        self._clients: dict[tuple[Any, ...], genai.Client] = {}

    def _client_key(self, request: CompletionRequest) -> tuple[Any, ...]:
        # the credential's digest is part of the key: a rotated secret (e.g. a refreshed
        # Vertex access token in a mounted file) gets a new client on the next call
        model = request.model
        credential = read_credential(model.api_key_ref) or ""
        return (model.base_url, model.api_key_ref, hashlib.sha256(credential.encode()).digest())

    def _new_client(self, request: CompletionRequest) -> genai.Client:
        raise NotImplementedError

    def _client(self, request: CompletionRequest) -> genai.Client:
        key = self._client_key(request)
        client = self._clients.get(key)
        if client is None:
            client = self._new_client(request)
            self._clients[key] = client
        return client

    async def complete(self, request: CompletionRequest) -> Completion:
        model = request.model
        client = self._client(request)
        try:
            response = await client.aio.models.generate_content(
                **generate_content_arguments(request)
            )
        except genai_errors.APIError as exc:
            if exc.code in _UNAVAILABLE_STATUS:
                raise ProviderUnavailable(
                    f"{model.provider} model {model.name!r}: HTTP {exc.code} {exc.status}"
                ) from exc
            raise
        except (httpx2.ConnectError, httpx2.ConnectTimeout, ConnectionError) as exc:
            raise ProviderUnavailable(
                f"{model.provider} model {model.name!r}: {type(exc).__name__}"
            ) from exc
        usage = response.usage_metadata
        return Completion(
            text=_reply_text(response),
            usage={
                "prompt_tokens": usage.prompt_token_count or 0,
                "completion_tokens": usage.candidates_token_count or 0,
            }
            if usage
            else {},
        )


def http_options(base_url: str | None) -> types.HttpOptions | None:
    """Client HTTP options: the binding's ``base_url`` overrides the Google endpoint."""
    return None if base_url is None else types.HttpOptions(base_url=base_url)


class GeminiAdapter(GenaiAdapter):
    """Gemini Developer API: API key from the model's credential reference."""

    def _new_client(self, request: CompletionRequest) -> genai.Client:
        model = request.model
        api_key = read_credential(model.api_key_ref)
        if not api_key:
            raise ProviderUnavailable(
                f"credential reference {model.api_key_ref!r} is not set in the executor environment"
            )
        return genai.Client(api_key=api_key, http_options=http_options(model.base_url))
