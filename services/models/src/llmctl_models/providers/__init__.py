"""Every provider, one module each; all versions of their settings schemas stay in code."""

from __future__ import annotations

from .anthropic import ANTHROPIC
from .base import ProviderSpec
from .gemini import GEMINI
from .openai import OPENAI
from .vertex import VERTEX
from .vllm import VLLM

__all__ = ["PROVIDERS", "ProviderSpec", "provider_spec"]

PROVIDERS: dict[str, ProviderSpec] = {p.name: p for p in (OPENAI, ANTHROPIC, GEMINI, VERTEX, VLLM)}
"""Providers by name, in display order."""


def provider_spec(name: str) -> ProviderSpec | None:
    """The provider called ``name``, or ``None``."""
    return PROVIDERS.get(name)
