"""Provider adapters, one module each, chosen by the model's provider binding."""

from __future__ import annotations

from .anthropic_sdk import AnthropicAdapter
from .base import (
    Completion,
    CompletionRequest,
    ProviderAdapter,
    ProviderError,
    ProviderUnavailable,
    ToolCall,
)
from .gemini_sdk import GeminiAdapter
from .openai_sdk import OpenAIAdapter
from .vertex_sdk import VertexAdapter

__all__ = [
    "Completion",
    "CompletionRequest",
    "ProviderAdapter",
    "ProviderError",
    "ProviderRegistry",
    "ProviderUnavailable",
    "ToolCall",
]


class ProviderRegistry:
    """Maps provider names to adapters (one instance each, reused across calls)."""

    def __init__(self) -> None:
        self._adapters: dict[str, ProviderAdapter] = {
            "openai": OpenAIAdapter(),
            "anthropic": AnthropicAdapter(),
            "gemini": GeminiAdapter(),
            "vertex": VertexAdapter(),
        }

    def adapter(self, provider: str) -> ProviderAdapter:
        """The adapter of ``provider``.

        Raises:
            ProviderUnavailable: this executor has no adapter for ``provider``.
        """
        adapter = self._adapters.get(provider)
        if adapter is None:
            raise ProviderUnavailable(
                f"provider {provider!r} is not supported by this executor yet"
            )
        return adapter
