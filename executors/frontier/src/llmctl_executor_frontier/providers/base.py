"""The provider adapter port: one completion call against one model.

Messages are provider-neutral dicts in the OpenAI chat shape (see :mod:`..conversation`):
``system`` / ``user`` / ``assistant`` (with optional ``tool_calls``) / ``tool`` (a tool
result); each adapter converts them to its provider's wire shape.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from llmctl_contracts.commands import ModelBinding
from llmctl_contracts.tools import ToolDescriptor

__all__ = [
    "Completion",
    "CompletionRequest",
    "ProviderAdapter",
    "ProviderError",
    "ProviderUnavailable",
    "ToolCall",
]


class ProviderUnavailable(Exception):
    """The provider cannot be used (unknown provider, missing credential, connection refused)."""


class ProviderError(Exception):
    """The provider answered this request with an error (after the SDK's own retry).

    Attributes:
        status: The HTTP status; a 4xx means the request itself was refused.
    """

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One tool call the model asked for.

    Attributes:
        id: The provider's call id (results refer to it).
        name: The tool's name as the model wrote it.
        arguments: The arguments as JSON text, as the model produced them (may be invalid).
        signature: Opaque provider state that must go back with the call (Gemini's thought
            signature, base64).
    """

    id: str
    name: str
    arguments: str
    signature: str | None = None


@dataclass(frozen=True, slots=True)
class CompletionRequest:
    """One chat completion: messages, optionally a JSON Schema the final reply must follow,
    and the tools the model may call."""

    model: ModelBinding
    messages: list[dict[str, Any]]
    json_schema: dict[str, Any] | None = None
    timeout_seconds: float = 600.0
    tools: list[ToolDescriptor] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Completion:
    """The model's reply: text (the final answer), or tool calls to run first."""

    text: str
    usage: dict[str, int] = field(default_factory=dict)
    tool_calls: list[ToolCall] = field(default_factory=list)


class ProviderAdapter(ABC):
    """Calls one provider through its official SDK."""

    @abstractmethod
    async def complete(self, request: CompletionRequest) -> Completion:
        """Run one completion.

        Raises:
            ProviderUnavailable: the provider or model cannot be reached or is not configured.
        """
