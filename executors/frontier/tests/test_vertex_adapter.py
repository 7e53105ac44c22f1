"""The Vertex AI adapter through the real ``google-genai`` SDK (``vertexai=True``) against the
demo model: project/location in the request path, the referenced credential on the wire."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from llmctl_contracts import ErrorCode
from llmctl_executor_frontier.providers import ProviderRegistry
from llmctl_executor_frontier.task import TaskFailure, run_task
from llmctl_infra.demo_llm import (
    INVALID_FIRST_ANSWER_MARKER,
    credential_fingerprint,
    service_account_token,
)
from llmctl_infra.testing import DemoLLMHandle

from .conftest import MISSING_ENV, OUTPUT_SCHEMA, binding, root_url, task_command

TOKEN_ENV = "LLMCTL_FRONTIER_TEST_VERTEX_TOKEN"
SA_ENV = "LLMCTL_FRONTIER_TEST_VERTEX_SA"
SA_EMAIL = "runner@demo-project.iam.gserviceaccount.com"


@pytest.fixture
def vertex_env() -> Iterator[None]:
    os.environ[TOKEN_ENV] = "vertex-access-token"
    yield
    os.environ.pop(TOKEN_ENV, None)
    os.environ.pop(SA_ENV, None)


def _service_account_key(token_uri: str) -> dict[str, Any]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return {
        "type": "service_account",
        "project_id": "demo-project",
        "private_key_id": "key-1",
        "private_key": pem,
        "client_email": SA_EMAIL,
        "client_id": "1",
        "token_uri": token_uri,
    }


def _vertex(demo: DemoLLMHandle, api_key_ref: str | None = TOKEN_ENV, **settings: Any) -> Any:
    return binding(
        "vertex", root_url(demo), model_id="gemini-vx", api_key_ref=api_key_ref, **settings
    )


async def test_project_location_in_path_and_token_used(
    demo: DemoLLMHandle, vertex_env: None
) -> None:
    model = _vertex(
        demo, project="acme-prod", location="europe-west4", temperature=0.2, max_output_tokens=64
    )
    outcome = await run_task(task_command(), model, ProviderRegistry())
    jsonschema.validate(outcome.output, OUTPUT_SCHEMA)
    [call] = demo.stats.calls_of("vertex")
    assert call.path.endswith(
        "/projects/acme-prod/locations/europe-west4/publishers/google/models/gemini-vx"
        ":generateContent"
    )
    assert call.headers["authorization"] == credential_fingerprint("vertex-access-token")
    config = call.body["generationConfig"]
    assert (config["temperature"], config["maxOutputTokens"]) == (0.2, 64)
    assert config["responseJsonSchema"] == OUTPUT_SCHEMA


async def test_location_defaults_to_us_central1(demo: DemoLLMHandle, vertex_env: None) -> None:
    await run_task(task_command(), _vertex(demo, project="acme"), ProviderRegistry())
    [call] = demo.stats.calls_of("vertex")
    assert "/projects/acme/locations/us-central1/" in call.path


@pytest.mark.parametrize("as_path", [False, True])
async def test_service_account_key_is_exchanged_for_a_token(
    demo: DemoLLMHandle, vertex_env: None, tmp_path: Path, as_path: bool
) -> None:
    key = json.dumps(_service_account_key(f"{root_url(demo)}/token"))
    if as_path:
        (tmp_path / "sa.json").write_text(key)
        key = str(tmp_path / "sa.json")
    os.environ[SA_ENV] = key
    model = _vertex(demo, api_key_ref=SA_ENV, project="acme")
    outcome = await run_task(task_command(), model, ProviderRegistry())
    jsonschema.validate(outcome.output, OUTPUT_SCHEMA)
    [call] = demo.stats.calls_of("vertex")
    expected = credential_fingerprint(service_account_token(SA_EMAIL))
    assert call.headers["authorization"] == expected


async def test_invalid_first_answer_is_repaired(demo: DemoLLMHandle, vertex_env: None) -> None:
    command = task_command(f"Classify. {INVALID_FIRST_ANSWER_MARKER}")
    outcome = await run_task(command, _vertex(demo, project="acme"), ProviderRegistry())
    assert outcome.schema_attempts == 2
    jsonschema.validate(outcome.output, OUTPUT_SCHEMA)
    assert [c.status for c in demo.stats.calls_of("vertex")] == [200, 200]


async def test_rejected_token_is_unavailable(demo: DemoLLMHandle, vertex_env: None) -> None:
    os.environ[TOKEN_ENV] = "invalid-token"
    with pytest.raises(TaskFailure) as failure:
        await run_task(task_command(), _vertex(demo, project="acme"), ProviderRegistry())
    assert failure.value.body.code == ErrorCode.UNAVAILABLE
    assert [c.status for c in demo.stats.calls_of("vertex")] == [401]


async def test_unknown_model_is_unavailable(demo: DemoLLMHandle, vertex_env: None) -> None:
    model = binding(
        "vertex", root_url(demo), model_id="unknown-vx", api_key_ref=TOKEN_ENV, project="acme"
    )
    with pytest.raises(TaskFailure) as failure:
        await run_task(task_command(), model, ProviderRegistry())
    assert failure.value.body.code == ErrorCode.UNAVAILABLE
    assert [c.status for c in demo.stats.calls_of("vertex")] == [404]


@pytest.mark.parametrize(
    ("key_ref", "settings", "reason"),
    [
        (MISSING_ENV, {"project": "acme"}, MISSING_ENV),
        (TOKEN_ENV, {}, "no project"),
        (SA_ENV, {"project": "acme"}, "not valid JSON"),
    ],
)
async def test_unusable_configuration_is_unavailable_without_a_request(
    demo: DemoLLMHandle, vertex_env: None, key_ref: str, settings: dict[str, Any], reason: str
) -> None:
    os.environ[SA_ENV] = "{not json"
    with pytest.raises(TaskFailure) as failure:
        await run_task(task_command(), _vertex(demo, key_ref, **settings), ProviderRegistry())
    assert failure.value.body.code == ErrorCode.UNAVAILABLE
    assert reason in failure.value.body.message
    assert demo.stats.calls == []


async def test_refused_service_account_grant_is_unavailable(
    demo: DemoLLMHandle, vertex_env: None
) -> None:
    key = _service_account_key(f"{root_url(demo)}/no-such-token-endpoint")
    os.environ[SA_ENV] = json.dumps(key)
    with pytest.raises(TaskFailure) as failure:
        await run_task(task_command(), _vertex(demo, SA_ENV, project="acme"), ProviderRegistry())
    assert failure.value.body.code == ErrorCode.UNAVAILABLE
    assert demo.stats.calls_of("vertex") == []


async def test_rotated_token_is_used_by_the_next_call(
    demo: DemoLLMHandle, vertex_env: None
) -> None:
    registry = ProviderRegistry()
    model = _vertex(demo, project="acme")
    await run_task(task_command(), model, registry)
    os.environ[TOKEN_ENV] = "vertex-access-token-2"
    await run_task(task_command(), model, registry)
    assert [c.headers["authorization"] for c in demo.stats.calls_of("vertex")] == [
        credential_fingerprint("vertex-access-token"),
        credential_fingerprint("vertex-access-token-2"),
    ]
