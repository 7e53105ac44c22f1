"""Command payloads (work to do), consumed from the work-queue stream."""

from __future__ import annotations

from typing import Any

import msgspec

from .flowchart import Connector, Node

__all__ = ["ExecuteNode", "ModelBinding", "RouteNode"]


class ModelBinding(msgspec.Struct, frozen=True, kw_only=True):
    """A resolved model as the executor needs it. Secrets travel as references only.

    Attributes:
        name: Model record name.
        provider: ``openai``, ``anthropic``, ``gemini``, ``vertex`` or ``vllm``.
        provider_model_id: The provider's own model id.
        base_url: Endpoint override (OpenAI-compatible servers, vLLM remote).
        api_key_ref: Name of the environment variable holding the key, never the key.
        settings: Provider-specific settings snapshot.
    """

    name: str
    provider: str
    provider_model_id: str
    base_url: str | None = None
    api_key_ref: str | None = None
    settings: dict[str, Any] = msgspec.field(default_factory=dict)


class ExecuteNode(msgspec.Struct, frozen=True, kw_only=True):
    """Execute one attempt of one node run."""

    node_run_id: str
    attempt: int
    node: Node
    input_context: dict[str, Any]
    timeout_seconds: float
    model: ModelBinding | None = None


class RouteNode(msgspec.Struct, frozen=True, kw_only=True):
    """Decide which outgoing solid connectors of a finished node run fire."""

    node_run_id: str
    node: Node
    output: dict[str, Any]
    context: dict[str, Any]
    outgoing: list[Connector]
