"""Fixtures: the offline demo model over HTTP and task commands for the frontier adapters.

The adapters use the real provider SDKs; only their endpoint (the binding's ``base_url``)
points at the demo model, which speaks each provider's wire format.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from llmctl_contracts.commands import ExecuteNode, ModelBinding
from llmctl_contracts.flowchart import TaskNode
from llmctl_infra.testing import DemoLLMHandle, demo_llm_server

KEY_ENV = "LLMCTL_FRONTIER_TEST_PROVIDER_KEY"
"""Environment variable holding a key the demo model accepts."""
KEY_VALUE = "frontier-test-key"
INVALID_KEY_ENV = "LLMCTL_FRONTIER_TEST_INVALID_KEY"
"""Environment variable holding a key the demo model answers 401 for."""
MISSING_ENV = "LLMCTL_FRONTIER_TEST_MISSING_KEY"
"""Never set."""

OUTPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "label": {"type": "string", "enum": ["bug", "feature"]},
        "score": {"type": "integer", "minimum": 1, "maximum": 5},
        "reasons": {"type": "array", "items": {"type": "string"}, "minItems": 1},
    },
    "required": ["label", "score", "reasons"],
    "additionalProperties": False,
}


@pytest.fixture(scope="session", autouse=True)
def provider_keys() -> Iterator[None]:
    os.environ[KEY_ENV] = KEY_VALUE
    os.environ[INVALID_KEY_ENV] = "invalid-key"
    os.environ.pop(MISSING_ENV, None)
    yield
    os.environ.pop(KEY_ENV, None)
    os.environ.pop(INVALID_KEY_ENV, None)


@pytest.fixture
async def demo() -> AsyncIterator[DemoLLMHandle]:
    async with demo_llm_server() as handle:
        yield handle


def root_url(demo: DemoLLMHandle) -> str:
    """The demo model's root URL (the handle's ``base_url`` is the OpenAI one, ``.../v1``)."""
    return demo.base_url.removesuffix("/v1")


def task_command(
    prompt: str = "Classify the issue.",
    *,
    output_schema: dict[str, Any] | None = OUTPUT_SCHEMA,
    schema_retry_attempts: int = 2,
) -> ExecuteNode:
    """A task node attempt with an output schema."""
    return ExecuteNode(
        node_run_id="nr-1",
        attempt=1,
        node=TaskNode(
            id="classify",
            prompt=prompt,
            output_schema=output_schema,
            schema_retry_attempts=schema_retry_attempts,
        ),
        input_context={"run": {"input": {"title": "crash on start"}}},
        timeout_seconds=30,
    )


def binding(
    provider: str,
    base_url: str,
    *,
    model_id: str = "demo-model",
    api_key_ref: str | None = KEY_ENV,
    **settings: Any,
) -> ModelBinding:
    """A resolved model pointing at the demo model."""
    return ModelBinding(
        name=f"{provider}-test",
        provider=provider,
        provider_model_id=model_id,
        base_url=base_url,
        api_key_ref=api_key_ref,
        settings=settings,
    )


def sent_credential(headers: dict[str, str]) -> str | None:
    """The fingerprint of the credential a recorded request carried (any credential header)."""
    for name in ("x-api-key", "x-goog-api-key", "authorization"):
        if name in headers:
            return headers[name]
    return None
