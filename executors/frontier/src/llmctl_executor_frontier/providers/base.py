"""The provider adapter port: one completion call against one model."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from llmctl_contracts.commands import ModelBinding

__all__ = ["Completion", "CompletionRequest", "ProviderAdapter", "ProviderUnavailable"]


class ProviderUnavailable(Exception):
    """The provider cannot be used (unknown provider, missing credential, connection refused)."""


@dataclass(frozen=True, slots=True)
class CompletionRequest:
    """One chat completion: messages and, optionally, a JSON Schema the reply must follow."""

    model: ModelBinding
    messages: list[dict[str, str]]
    json_schema: dict[str, Any] | None = None
    timeout_seconds: float = 600.0


@dataclass(frozen=True, slots=True)
class Completion:
    """The model's reply."""

    text: str
    usage: dict[str, int] = field(default_factory=dict)


class ProviderAdapter(ABC):
    """Calls one provider through its official SDK."""

    @abstractmethod
    async def complete(self, request: CompletionRequest) -> Completion:
        """Run one completion.

        Raises:
            ProviderUnavailable: the provider or model cannot be reached or is not configured.
        """
