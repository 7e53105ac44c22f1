"""The provider registry imports each SDK only when a model of that provider first runs."""

from __future__ import annotations

import subprocess
import sys

import pytest

from llmctl_executor_frontier.providers import ADAPTERS, ProviderRegistry, ProviderUnavailable

PROBE = """
import sys
import llmctl_executor_frontier.worker
from llmctl_executor_frontier.providers import ProviderRegistry
sdks = ("openai", "anthropic", "google.genai")
print(sorted(m for m in sdks if m in sys.modules))
registry = ProviderRegistry()
registry.adapter("anthropic")
print(sorted(m for m in sdks if m in sys.modules))
"""


def test_sdks_are_imported_on_first_use_only() -> None:
    lines = subprocess.run(
        [sys.executable, "-c", PROBE], check=True, capture_output=True, text=True
    ).stdout.splitlines()
    assert lines == ["[]", "['anthropic']"]


def test_each_provider_gets_one_adapter_and_unknown_ones_are_refused() -> None:
    registry = ProviderRegistry()
    for provider in ADAPTERS:
        assert registry.adapter(provider) is registry.adapter(provider)
    with pytest.raises(ProviderUnavailable, match="'vllm' is not supported"):
        registry.adapter("vllm")
