"""The demo model's Anthropic and Gemini/Vertex endpoints refuse malformed requests clearly
and never keep a credential (raw HTTP; the SDK paths are covered by the frontier tests)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from llmctl_infra.demo_llm import credential_fingerprint
from llmctl_infra.testing import demo_llm_server

KEY = "wire-test-key"
MESSAGE: dict[str, Any] = {
    "model": "claude-demo",
    "max_tokens": 100,
    "messages": [{"role": "user", "content": "hi"}],
}
GENERATE: dict[str, Any] = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({**MESSAGE, "max_tokens": 0}, "max_tokens"),
        ({k: v for k, v in MESSAGE.items() if k != "model"}, "model"),
        ({**MESSAGE, "messages": []}, "messages"),
        ({**MESSAGE, "messages": [{"role": "system", "content": "x"}]}, "role"),
        ({**MESSAGE, "tool_choice": {"type": "tool", "name": "t"}}, "no tools"),
        (
            {
                **MESSAGE,
                "tools": [{"name": "a", "input_schema": {"type": "object"}}],
                "tool_choice": {"type": "tool", "name": "b"},
            },
            "unknown tool",
        ),
        ({**MESSAGE, "output_config": {"format": {"type": "text"}}}, "json_schema"),
    ],
)
async def test_malformed_messages_are_400_naming_the_field(
    body: dict[str, Any], reason: str
) -> None:
    async with demo_llm_server() as demo, httpx.AsyncClient(base_url=demo.base_url) as http:
        response = await http.post("/messages", json=body, headers={"x-api-key": KEY})
    assert response.status_code == 400
    error = response.json()
    assert error["type"] == "error"
    assert error["error"]["type"] == "invalid_request_error"
    assert reason in error["error"]["message"]
    assert demo.stats.completions == 0


async def test_non_json_bodies_are_400() -> None:
    async with demo_llm_server() as demo, httpx.AsyncClient(base_url=demo.base_url) as http:
        anthropic = await http.post("/messages", content=b"{", headers={"x-api-key": KEY})
        gemini = await http.post(
            "/models/m:generateContent", content=b"[]", headers={"x-goog-api-key": KEY}
        )
    assert anthropic.status_code == 400
    assert gemini.status_code == 400
    assert gemini.json()["error"]["status"] == "INVALID_ARGUMENT"


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/v1beta/models/m:generateContent", {"contents": []}, 400),
        ("/v1beta/models/m:generateContent", {"contents": [{"role": "tool"}]}, 400),
        ("/v1beta/models/m:generateContent", {**GENERATE, "generationConfig": []}, 400),
        ("/v1beta/models/m:streamGenerateContent", GENERATE, 404),
        ("/v1beta/models/unknown-m:generateContent", GENERATE, 404),
    ],
)
async def test_malformed_generate_content_is_refused(
    path: str, body: dict[str, Any], status: int
) -> None:
    async with demo_llm_server() as demo, httpx.AsyncClient(base_url=demo.base_url) as http:
        root = str(http.base_url).removesuffix("/v1/")
        response = await http.post(f"{root}{path}", json=body, headers={"x-goog-api-key": KEY})
    assert response.status_code == status
    assert response.json()["error"]["code"] == status
    assert demo.stats.completions == 0


async def test_credentials_are_fingerprinted_never_kept() -> None:
    async with demo_llm_server() as demo, httpx.AsyncClient(base_url=demo.base_url) as http:
        root = str(http.base_url).removesuffix("/v1/")
        await http.post("/messages", json=MESSAGE, headers={"x-api-key": KEY})
        await http.post(
            f"{root}/v1beta1/projects/p/locations/l/publishers/google/models/m:generateContent",
            json=GENERATE,
            headers={"authorization": f"Bearer {KEY}"},
        )
        refused = await http.post("/messages", json=MESSAGE)
    assert refused.status_code == 401
    assert [c.status for c in demo.stats.calls] == [200, 200, 401]
    assert demo.stats.calls[0].headers["x-api-key"] == credential_fingerprint(KEY)
    assert demo.stats.calls[1].headers["authorization"] == credential_fingerprint(KEY)
    recorded = json.dumps([c.headers for c in demo.stats.calls])
    assert KEY not in recorded


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"grant_type": "password", "assertion": "a.b.c"}, "unsupported_grant_type"),
        (
            {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": "x"},
            "invalid_grant",
        ),
    ],
)
async def test_token_endpoint_refuses_bad_grants(form: dict[str, str], error: str) -> None:
    async with demo_llm_server() as demo, httpx.AsyncClient(base_url=demo.base_url) as http:
        root = str(http.base_url).removesuffix("/v1/")
        response = await http.post(f"{root}/token", data=form)
    assert response.status_code == 400
    assert response.json()["error"] == error
