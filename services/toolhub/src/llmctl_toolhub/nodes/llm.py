"""Strict-JSON model calls for fallback reasoning, guided mode and summaries.

The model is resolved through the models service (``llmctl.rpc.models.model.resolve``); the
call goes through the official ``openai`` SDK (OpenAI and OpenAI-compatible endpoints). The
API key is read from the credential the model references (``api_key_ref``: an environment
variable or ``secret:<name>``, see :mod:`llmctl_libs.credentials`) at call time;
it is never logged or returned.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import openai

from llmctl_contracts.commands import ModelBinding
from llmctl_libs.credentials import read_credential

__all__ = ["ModelCaller", "ModelUnavailable", "OpenAIModelCaller", "Resolver"]

Resolver = Callable[[str | None], Awaitable[ModelBinding]]
"""Resolves a model name (``None``: the default model) to its binding."""

_OPENAI_COMPATIBLE = frozenset({"openai", "vllm"})


class ModelUnavailable(Exception):
    """The model could not be resolved or called, or answered with no valid JSON object."""


class ModelCaller(Protocol):
    """Asks a model for one JSON object matching a schema."""

    async def complete_json(
        self,
        *,
        model: str | None,
        instructions: str,
        payload: dict[str, Any],
        schema_name: str,
        schema: dict[str, Any],
        strict: bool = True,
    ) -> dict[str, Any]:
        """The model's JSON answer (``strict``: ask for strict schema adherence).

        Raises:
            ModelUnavailable: No model, a failed call or a non-object answer.
        """
        ...


class OpenAIModelCaller:
    """:class:`ModelCaller` over the ``openai`` SDK.

    Args:
        resolve: Model resolution (the models service RPC in the worker).
        timeout_seconds: Per-call timeout.
    """

    def __init__(self, resolve: Resolver, *, timeout_seconds: float = 120.0) -> None:
        self._resolve = resolve
        self._timeout = timeout_seconds

    async def complete_json(
        self,
        *,
        model: str | None,
        instructions: str,
        payload: dict[str, Any],
        schema_name: str,
        schema: dict[str, Any],
        strict: bool = True,
    ) -> dict[str, Any]:
        """See :meth:`ModelCaller.complete_json`."""
        try:
            binding = await self._resolve(model)
        except Exception as exc:  # RpcError and transport failures alike
            raise ModelUnavailable(
                f"model {model or '(default)'} could not be resolved: {exc}"
            ) from exc
        if binding.provider not in _OPENAI_COMPATIBLE:
            raise ModelUnavailable(
                f"model {binding.name!r} ({binding.provider}) is not OpenAI-compatible; "
                "special-node LLM calls need an openai or vllm model"
            )
        api_key = read_credential(binding.api_key_ref)
        if not api_key:
            raise ModelUnavailable(
                f"credential reference {binding.api_key_ref!r} of model {binding.name!r} is not set"
            )
        client = openai.AsyncOpenAI(base_url=binding.base_url, api_key=api_key, max_retries=1)
        try:
            response = await client.chat.completions.create(
                model=binding.provider_model_id,
                messages=[
                    {"role": "system", "content": instructions},
                    {"role": "user", "content": json.dumps(payload, default=str)[:60_000]},
                ],
                response_format={
                    "type": "json_schema",
                    "json_schema": {"name": schema_name, "schema": schema, "strict": strict},
                },
                timeout=self._timeout,
            )
        except openai.OpenAIError as exc:
            raise ModelUnavailable(f"model {binding.name!r}: {type(exc).__name__}") from exc
        finally:
            await client.close()
        text = response.choices[0].message.content or ""
        try:
            answer = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ModelUnavailable(f"model {binding.name!r} answered with invalid JSON") from exc
        if not isinstance(answer, dict):
            raise ModelUnavailable(f"model {binding.name!r} did not answer with a JSON object")
        return answer
