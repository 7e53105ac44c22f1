"""Provider adapters, one module each, chosen by the model's provider binding.

Each adapter's module (and so its SDK: tens of MiB each) is imported the first time a model of
that provider runs, so an executor only pays for the providers it uses.
"""

from __future__ import annotations

import importlib

from .base import (
    Completion,
    CompletionRequest,
    ProviderAdapter,
    ProviderError,
    ProviderUnavailable,
    ToolCall,
)

__all__ = [
    "ADAPTERS",
    "Completion",
    "CompletionRequest",
    "ProviderAdapter",
    "ProviderError",
    "ProviderRegistry",
    "ProviderUnavailable",
    "ToolCall",
]

ADAPTERS: dict[str, tuple[str, str]] = {
    "openai": ("openai_sdk", "OpenAIAdapter"),
    "anthropic": ("anthropic_sdk", "AnthropicAdapter"),
    "gemini": ("gemini_sdk", "GeminiAdapter"),
    "vertex": ("vertex_sdk", "VertexAdapter"),
}
"""Provider name -> (module in this package, adapter class)."""


class ProviderRegistry:
    """Maps provider names to adapters (one instance each, made on first use and reused)."""

    def __init__(self) -> None:
        self._adapters: dict[str, ProviderAdapter] = {}

    def adapter(self, provider: str) -> ProviderAdapter:
        """The adapter of ``provider``.

        Raises:
            ProviderUnavailable: this executor has no adapter for ``provider``.
        """
        adapter = self._adapters.get(provider)
        if adapter is None:
            where = ADAPTERS.get(provider)
            if where is None:
                raise ProviderUnavailable(
                    f"provider {provider!r} is not supported by this executor yet"
                )
            module = importlib.import_module(f"{__name__}.{where[0]}")
            adapter = self._adapters[provider] = getattr(module, where[1])()
        return adapter
