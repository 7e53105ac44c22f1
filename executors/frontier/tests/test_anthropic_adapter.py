"""The Anthropic adapter through the real ``anthropic`` SDK against the demo model."""

from __future__ import annotations

import json

import jsonschema
import pytest

from llmctl_contracts import ErrorCode
from llmctl_executor_frontier.providers import ProviderRegistry
from llmctl_executor_frontier.providers.anthropic_sdk import NODE_OUTPUT_TOOL
from llmctl_executor_frontier.task import TaskFailure, run_task
from llmctl_infra.demo_llm import INVALID_FIRST_ANSWER_MARKER, credential_fingerprint
from llmctl_infra.testing import DemoLLMHandle

from .conftest import (
    INVALID_KEY_ENV,
    KEY_VALUE,
    MISSING_ENV,
    OUTPUT_SCHEMA,
    binding,
    root_url,
    sent_credential,
    task_command,
)


async def test_forced_tool_output_validates_and_settings_map(demo: DemoLLMHandle) -> None:
    model = binding("anthropic", root_url(demo), max_tokens=2048, temperature=0.3)
    outcome = await run_task(task_command(), model, ProviderRegistry())
    jsonschema.validate(outcome.output, OUTPUT_SCHEMA)
    assert outcome.schema_attempts == 1
    assert outcome.usage["prompt_tokens"] > 0
    [call] = demo.stats.calls_of("anthropic")
    assert call.path == "/v1/messages"
    assert call.status == 200
    assert sent_credential(call.headers) == credential_fingerprint(KEY_VALUE)
    assert KEY_VALUE not in json.dumps(call.headers)
    body = call.body
    assert body["model"] == "demo-model"
    assert body["max_tokens"] == 2048
    assert body["temperature"] == 0.3
    assert "thinking" not in body
    assert body["tool_choice"] == {"type": "tool", "name": NODE_OUTPUT_TOOL}
    assert body["tools"][0]["input_schema"] == OUTPUT_SCHEMA
    assert "flowchart" in body["system"]
    assert [m["role"] for m in body["messages"]] == ["user"]


async def test_thinking_uses_output_format_and_budget(demo: DemoLLMHandle) -> None:
    model = binding(
        "anthropic",
        root_url(demo),
        max_tokens=8000,
        temperature=0.5,
        thinking_enabled=True,
        thinking_budget_tokens=2000,
    )
    outcome = await run_task(task_command(), model, ProviderRegistry())
    jsonschema.validate(outcome.output, OUTPUT_SCHEMA)
    [call] = demo.stats.calls_of("anthropic")
    body = call.body
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2000}
    assert body["output_config"] == {"format": {"type": "json_schema", "schema": OUTPUT_SCHEMA}}
    assert "tool_choice" not in body
    assert "temperature" not in body  # Anthropic requires the default with thinking


async def test_invalid_first_answer_is_repaired(demo: DemoLLMHandle) -> None:
    command = task_command(f"Classify the issue. {INVALID_FIRST_ANSWER_MARKER}")
    outcome = await run_task(command, binding("anthropic", root_url(demo)), ProviderRegistry())
    jsonschema.validate(outcome.output, OUTPUT_SCHEMA)
    assert outcome.schema_attempts == 2
    first, second = demo.stats.calls_of("anthropic")
    assert [m["role"] for m in first.body["messages"]] == ["user"]
    assert [m["role"] for m in second.body["messages"]] == ["user", "assistant", "user"]
    assert "did not validate" in second.body["messages"][2]["content"]
    assert "label" in second.body["messages"][2]["content"]


async def test_no_repair_budget_fails_validation(demo: DemoLLMHandle) -> None:
    command = task_command(f"x {INVALID_FIRST_ANSWER_MARKER}", schema_retry_attempts=0)
    with pytest.raises(TaskFailure) as failure:
        await run_task(command, binding("anthropic", root_url(demo)), ProviderRegistry())
    assert failure.value.body.code == ErrorCode.VALIDATION_FAILED
    assert failure.value.body.details[0].field == "output"


@pytest.mark.parametrize(
    ("model_id", "key_ref", "status"),
    [
        ("demo-model", INVALID_KEY_ENV, 401),
        ("unknown-model", "LLMCTL_FRONTIER_TEST_PROVIDER_KEY", 404),
    ],
)
async def test_refused_requests_are_unavailable(
    demo: DemoLLMHandle, model_id: str, key_ref: str, status: int
) -> None:
    model = binding("anthropic", root_url(demo), model_id=model_id, api_key_ref=key_ref)
    with pytest.raises(TaskFailure) as failure:
        await run_task(task_command(), model, ProviderRegistry())
    assert failure.value.body.code == ErrorCode.UNAVAILABLE
    assert [c.status for c in demo.stats.calls_of("anthropic")] == [status]


async def test_missing_credential_is_unavailable_without_a_request(demo: DemoLLMHandle) -> None:
    model = binding("anthropic", root_url(demo), api_key_ref=MISSING_ENV)
    with pytest.raises(TaskFailure) as failure:
        await run_task(task_command(), model, ProviderRegistry())
    assert failure.value.body.code == ErrorCode.UNAVAILABLE
    assert MISSING_ENV in failure.value.body.message
    assert demo.stats.calls == []


async def test_connection_refused_is_unavailable(demo: DemoLLMHandle) -> None:
    model = binding("anthropic", "http://127.0.0.1:9")
    with pytest.raises(TaskFailure) as failure:
        await run_task(task_command(), model, ProviderRegistry())
    assert failure.value.body.code == ErrorCode.UNAVAILABLE


async def test_non_object_schema_uses_output_format(demo: DemoLLMHandle) -> None:
    schema = {"type": "array", "items": {"type": "string"}, "minItems": 2}
    command = task_command(output_schema=schema)
    outcome = await run_task(command, binding("anthropic", root_url(demo)), ProviderRegistry())
    jsonschema.validate(outcome.output["value"], schema)
    [call] = demo.stats.calls_of("anthropic")
    assert call.body["output_config"] == {"format": {"type": "json_schema", "schema": schema}}
    assert "tools" not in call.body
    assert call.body["max_tokens"] == 4096  # the default when the snapshot has none
