"""Gemini Developer API through the official ``google-genai`` SDK.

Structured output: ``response_mime_type: application/json`` + ``response_json_schema`` (the
node's schema, JSON Schema as is). Settings (shared with Vertex AI): ``temperature``,
``max_output_tokens``, ``thinking_budget`` and ``include_thoughts`` -> ``thinking_config``
(thought parts are not part of the reply text). System messages become the
``system_instruction``; assistant turns the ``model`` role.

Tools: ``function_declarations`` (JSON Schemas as is); calls come back as ``function_call``
parts (their thought signatures kept and sent back, as Gemini 3 requires) and results go
back as one user turn of ``function_response`` parts (``{"output": ...}`` or
``{"error": ...}``, the keys Gemini documents). An output schema and tools are sent together
(Gemini 3 combines them; Gemini 2.x answers 400, which fails the attempt with the provider's
message: give such a node no output schema, or use a Gemini 3 model).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from typing import Any

import httpx2
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from llmctl_libs.credentials import read_credential
from llmctl_libs.tools import render_gemini

from .base import (
    Completion,
    CompletionRequest,
    ProviderAdapter,
    ProviderError,
    ProviderUnavailable,
    ToolCall,
)
from .conversation import arguments_object, tool_calls_of

__all__ = ["GeminiAdapter", "GenaiAdapter", "gemini_contents", "generate_content_arguments"]

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
    if request.tools:
        config["tools"] = [
            types.Tool(
                function_declarations=[
                    types.FunctionDeclaration(**d) for d in render_gemini(request.tools)
                ]
            )
        ]
    if request.json_schema is not None:
        config["response_mime_type"] = "application/json"
        config["response_json_schema"] = request.json_schema
    return types.GenerateContentConfig(**config)


def _model_parts(message: dict[str, Any]) -> list[types.Part]:
    parts = [types.Part(text=message["content"])] if message.get("content") else []
    parts.extend(
        types.Part(
            function_call=types.FunctionCall(
                id=c.id, name=c.name, args=arguments_object(c.arguments)
            ),
            thought_signature=None if c.signature is None else base64.b64decode(c.signature),
        )
        for c in tool_calls_of(message)
    )
    return parts


def _function_response(message: dict[str, Any]) -> types.Part:
    result = arguments_object(message["content"])
    return types.Part(
        function_response=types.FunctionResponse(
            id=message["tool_call_id"], name=message["name"], response=result
        )
    )


def gemini_contents(messages: list[dict[str, Any]]) -> list[types.Content]:
    """The neutral conversation (system messages left out) as ``Content`` turns."""
    contents: list[types.Content] = []
    for m in messages:
        if m["role"] == "system":
            continue
        if m["role"] == "tool":
            part = _function_response(m)
            last = contents[-1] if contents else None
            if last is not None and last.parts and last.parts[0].function_response is not None:
                last.parts.append(part)
            else:
                contents.append(types.Content(role="user", parts=[part]))
        elif m["role"] == "assistant":
            contents.append(types.Content(role="model", parts=_model_parts(m)))
        else:
            contents.append(types.Content(role="user", parts=[types.Part(text=m["content"])]))
    return contents


def generate_content_arguments(request: CompletionRequest) -> dict[str, Any]:
    """The ``models.generate_content`` keyword arguments for ``request``."""
    return {
        "model": request.model.provider_model_id,
        "contents": gemini_contents(request.messages),
        "config": _generation_config(request),
    }


def _reply_parts(response: types.GenerateContentResponse) -> list[types.Part]:
    candidates = response.candidates or []
    if not candidates or candidates[0].content is None:
        return []
    return list(candidates[0].content.parts or [])


def _reply_text(parts: list[types.Part]) -> str:
    return "".join(part.text for part in parts if part.text and not part.thought)


def _reply_calls(parts: list[types.Part]) -> list[ToolCall]:
    calls = []
    for index, part in enumerate(parts):
        call = part.function_call
        if call is not None and call.name:
            calls.append(
                ToolCall(
                    id=call.id or f"call_{index}",
                    name=call.name,
                    arguments=json.dumps(call.args or {}),
                    signature=None
                    if part.thought_signature is None
                    else base64.b64encode(part.thought_signature).decode(),
                )
            )
    return calls


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
            message = f"{model.provider} model {model.name!r}: HTTP {exc.code} {exc.status}"
            if exc.code in _UNAVAILABLE_STATUS:
                raise ProviderUnavailable(message) from exc
            raise ProviderError(f"{message} {exc.message or ''}".strip(), exc.code) from exc
        except (httpx2.ConnectError, httpx2.ConnectTimeout, ConnectionError) as exc:
            raise ProviderUnavailable(
                f"{model.provider} model {model.name!r}: {type(exc).__name__}"
            ) from exc
        usage = response.usage_metadata
        parts = _reply_parts(response)
        return Completion(
            text=_reply_text(parts),
            tool_calls=_reply_calls(parts),
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
