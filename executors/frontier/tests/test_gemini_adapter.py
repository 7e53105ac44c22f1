"""The Gemini Developer API adapter through the real ``google-genai`` SDK against the demo model."""

from __future__ import annotations

import jsonschema
import pytest

from llmctl_contracts import ErrorCode
from llmctl_executor_frontier.providers import ProviderRegistry
from llmctl_executor_frontier.task import TaskFailure, run_task
from llmctl_infra.demo_llm import INVALID_FIRST_ANSWER_MARKER, credential_fingerprint
from llmctl_infra.testing import DemoLLMHandle

from .conftest import (
    INVALID_KEY_ENV,
    KEY_ENV,
    KEY_VALUE,
    MISSING_ENV,
    OUTPUT_SCHEMA,
    binding,
    root_url,
    sent_credential,
    task_command,
)


def _thinking_config(body: dict[str, object]) -> dict[str, object]:
    config = body["generationConfig"]
    assert isinstance(config, dict)
    thinking = config["thinkingConfig"]
    assert isinstance(thinking, dict)
    return thinking


async def test_json_schema_output_validates_and_settings_map(demo: DemoLLMHandle) -> None:
    model = binding(
        "gemini",
        root_url(demo),
        model_id="gemini-demo",
        temperature=0.7,
        max_output_tokens=900,
        thinking_budget=512,
        include_thoughts=True,
    )
    outcome = await run_task(task_command(), model, ProviderRegistry())
    jsonschema.validate(outcome.output, OUTPUT_SCHEMA)  # the thought part is not the reply
    assert outcome.schema_attempts == 1
    assert outcome.usage["prompt_tokens"] > 0
    [call] = demo.stats.calls_of("gemini")
    assert call.path.endswith("/models/gemini-demo:generateContent")
    assert call.status == 200
    assert call.headers["x-goog-api-key"] == credential_fingerprint(KEY_VALUE)
    assert sent_credential(call.headers) == credential_fingerprint(KEY_VALUE)
    config = call.body["generationConfig"]
    assert config["temperature"] == 0.7
    assert config["maxOutputTokens"] == 900
    assert config["responseMimeType"] == "application/json"
    assert config["responseJsonSchema"] == OUTPUT_SCHEMA
    thinking = {k.replace("_", "").lower(): v for k, v in _thinking_config(call.body).items()}
    assert thinking == {"thinkingbudget": 512, "includethoughts": True}
    assert "flowchart" in call.body["systemInstruction"]["parts"][0]["text"]
    assert [c["role"] for c in call.body["contents"]] == ["user"]


async def test_unset_settings_are_not_sent(demo: DemoLLMHandle) -> None:
    model = binding("gemini", root_url(demo), include_thoughts=False)
    await run_task(task_command(output_schema=None), model, ProviderRegistry())
    [call] = demo.stats.calls_of("gemini")
    config = call.body.get("generationConfig", {})
    assert "temperature" not in config
    assert "thinkingConfig" not in config
    assert "responseMimeType" not in config


async def test_invalid_first_answer_is_repaired(demo: DemoLLMHandle) -> None:
    command = task_command(f"Classify. {INVALID_FIRST_ANSWER_MARKER}")
    outcome = await run_task(command, binding("gemini", root_url(demo)), ProviderRegistry())
    jsonschema.validate(outcome.output, OUTPUT_SCHEMA)
    assert outcome.schema_attempts == 2
    first, second = demo.stats.calls_of("gemini")
    assert [c["role"] for c in first.body["contents"]] == ["user"]
    assert [c["role"] for c in second.body["contents"]] == ["user", "model", "user"]
    assert "not JSON" in second.body["contents"][2]["parts"][0]["text"]


@pytest.mark.parametrize(
    ("model_id", "key_ref", "status"),
    [("gemini-demo", INVALID_KEY_ENV, 401), ("unknown-gemini", KEY_ENV, 404)],
)
async def test_refused_requests_are_unavailable(
    demo: DemoLLMHandle, model_id: str, key_ref: str, status: int
) -> None:
    model = binding("gemini", root_url(demo), model_id=model_id, api_key_ref=key_ref)
    with pytest.raises(TaskFailure) as failure:
        await run_task(task_command(), model, ProviderRegistry())
    assert failure.value.body.code == ErrorCode.UNAVAILABLE
    assert str(status) in failure.value.body.message
    assert [c.status for c in demo.stats.calls_of("gemini")] == [status]


async def test_missing_credential_is_unavailable_without_a_request(demo: DemoLLMHandle) -> None:
    model = binding("gemini", root_url(demo), api_key_ref=MISSING_ENV)
    with pytest.raises(TaskFailure) as failure:
        await run_task(task_command(), model, ProviderRegistry())
    assert failure.value.body.code == ErrorCode.UNAVAILABLE
    assert demo.stats.calls == []


async def test_connection_refused_is_unavailable() -> None:
    model = binding("gemini", "http://127.0.0.1:9")
    with pytest.raises(TaskFailure) as failure:
        await run_task(task_command(), model, ProviderRegistry())
    assert failure.value.body.code == ErrorCode.UNAVAILABLE
