"""Anthropic, Gemini and Vertex AI models created through the API run a flowchart end to end:
the frontier executor calls each provider's official SDK, pointed at the demo model's
Anthropic Messages and Gemini/Vertex generateContent endpoints."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import jsonschema

from llmctl_infra.demo_llm import INVALID_FIRST_ANSWER_MARKER, credential_fingerprint

if TYPE_CHECKING:  # the fixture's type; conftest is not importable under importlib mode
    from conftest import E2EStack

TRIAGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "severity": {"type": "string", "enum": ["low", "high"]},
        "summary": {"type": "string", "minLength": 3},
    },
    "required": ["severity", "summary"],
    "additionalProperties": False,
}
REPLY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"message": {"type": "string"}, "words": {"type": "integer", "minimum": 1}},
    "required": ["message", "words"],
}


async def _create_model(e2e: E2EStack, **fields: Any) -> dict[str, Any]:
    body = {"secret_ref": {"kind": "env", "name": e2e.provider_key_env}, **fields}
    response = await e2e.http.post("/api/v1/models", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json()["data"])


def _flowchart(names: dict[str, str]) -> dict[str, Any]:
    return {
        "name": "provider-models",
        "defaults": {"timeout_seconds": 60, "max_attempts": 1},
        "nodes": [
            {"type": "start", "id": "start"},
            {
                "type": "task",
                "id": "triage",
                "prompt": f"Triage the reported issue. {INVALID_FIRST_ANSWER_MARKER}",
                "model": names["anthropic"],
                "output_schema": TRIAGE_SCHEMA,
            },
            {
                "type": "task",
                "id": "reply",
                "prompt": "Write the reply to the reporter.",
                "model": names["gemini"],
                "output_schema": REPLY_SCHEMA,
            },
            {
                "type": "task",
                "id": "audit",
                "prompt": "Audit the reply.",
                "model": names["vertex"],
                "output_schema": REPLY_SCHEMA,
            },
            {"type": "end", "id": "end"},
        ],
        "connectors": [
            {"id": "c1", "source": "start", "target": "triage"},
            {"id": "c2", "source": "triage", "target": "reply"},
            {"id": "c3", "source": "reply", "target": "audit"},
            {"id": "c4", "source": "audit", "target": "end"},
        ],
    }


async def test_anthropic_gemini_and_vertex_models_run_a_flowchart(e2e: E2EStack) -> None:
    root = e2e.llm_root_url
    anthropic = await _create_model(
        e2e,
        name="claude-e2e",
        provider="anthropic",
        provider_model_id="claude-demo",
        base_url=root,
        settings={"max_tokens": 1500, "temperature": 0.4},
    )
    gemini = await _create_model(
        e2e,
        name="gemini-e2e",
        provider="gemini",
        provider_model_id="gemini-demo",
        base_url=root,
        settings={"temperature": 0.6, "max_output_tokens": 700, "thinking_budget": 256},
    )
    vertex = await _create_model(
        e2e,
        name="vertex-e2e",
        provider="vertex",
        provider_model_id="gemini-vertex-demo",
        base_url=root,
        settings={"project": "acme-e2e", "location": "europe-west1"},
    )
    assert anthropic["settings"]["max_tokens"] == 1500
    assert gemini["settings"]["thinking_budget"] == 256
    assert vertex["settings"]["location"] == "europe-west1"
    calls_before = len(e2e.llm.stats.calls)

    names = {"anthropic": "claude-e2e", "gemini": "gemini-e2e", "vertex": "vertex-e2e"}
    flowchart_id = await e2e.create_flowchart(_flowchart(names))
    run = await e2e.start_run(flowchart_id, issue="crash on start")
    final = await e2e.wait_terminal(run["id"])
    node_runs = {n["node_id"]: n for n in await e2e.node_runs(run["id"])}
    assert final["status"] == "succeeded", {k: n["error"] for k, n in node_runs.items()}

    jsonschema.validate(node_runs["triage"]["output"], TRIAGE_SCHEMA)
    jsonschema.validate(node_runs["reply"]["output"], REPLY_SCHEMA)
    jsonschema.validate(node_runs["audit"]["output"], REPLY_SCHEMA)

    calls = e2e.llm.stats.calls[calls_before:]
    assert [c.api for c in calls] == ["anthropic", "anthropic", "gemini", "vertex"]
    assert all(c.status == 200 for c in calls)
    key = credential_fingerprint(e2e.provider_key)
    first, repaired, reply, audit = calls
    # Anthropic: forced tool with the node schema, settings mapped, repaired once
    assert first.path == "/v1/messages"
    assert first.body["model"] == "claude-demo"
    assert (first.body["max_tokens"], first.body["temperature"]) == (1500, 0.4)
    assert first.body["tools"][0]["input_schema"] == TRIAGE_SCHEMA
    assert first.body["tool_choice"]["type"] == "tool"
    assert key in (first.headers.get("authorization"), first.headers.get("x-api-key"))
    assert [m["role"] for m in repaired.body["messages"]] == ["user", "assistant", "user"]
    # Gemini Developer API: JSON schema + settings, API key header
    assert reply.path.endswith("/models/gemini-demo:generateContent")
    assert reply.headers["x-goog-api-key"] == key
    config = reply.body["generationConfig"]
    assert config["responseJsonSchema"] == REPLY_SCHEMA
    assert (config["temperature"], config["maxOutputTokens"]) == (0.6, 700)
    assert "256" in json.dumps(config["thinkingConfig"])
    # the triage output reached the Gemini prompt as upstream context
    assert node_runs["triage"]["output"]["summary"] in json.dumps(reply.body["contents"])
    # Vertex AI: project/location in the path, the referenced credential as bearer token
    assert "/projects/acme-e2e/locations/europe-west1/publishers/google/models/" in audit.path
    assert audit.path.endswith("/gemini-vertex-demo:generateContent")
    assert audit.headers["authorization"] == key

    artifacts = (await e2e.http.get(f"/api/v1/runs/{run['id']}/artifacts")).json()["data"]
    detail = {a["node_id"]: a["content"]["detail"] for a in artifacts if a["kind"] == "task_result"}
    assert {n: (d["provider"], d["model"]) for n, d in detail.items()} == {
        "triage": ("anthropic", "claude-e2e"),
        "reply": ("gemini", "gemini-e2e"),
        "audit": ("vertex", "vertex-e2e"),
    }
    assert detail["triage"]["schema_attempts"] == 2
    # the credential itself never reaches events, node runs or artifacts
    exposed = json.dumps([await e2e.events(run["id"]), list(node_runs.values()), artifacts])
    assert e2e.provider_key not in exposed
    await e2e.assert_rebuilds(run["id"])


async def test_unknown_provider_model_fails_the_node_at_once(e2e: E2EStack) -> None:
    await _create_model(
        e2e,
        name="claude-unknown-e2e",
        provider="anthropic",
        provider_model_id="unknown-claude",
        base_url=e2e.llm_root_url,
        settings={},
    )
    calls_before = len(e2e.llm.stats.calls)
    document = _flowchart(dict.fromkeys(("anthropic", "gemini", "vertex"), "claude-unknown-e2e"))
    flowchart_id = await e2e.create_flowchart(document)
    run = await e2e.start_run(flowchart_id)
    final = await e2e.wait_terminal(run["id"])
    assert final["status"] == "failed"
    node_runs = {n["node_id"]: n for n in await e2e.node_runs(run["id"])}
    assert node_runs["triage"]["status"] == "failed"
    assert node_runs["triage"]["error"]["code"] == "unavailable"
    assert "reply" not in node_runs
    # one refused request (404), no retry on another model
    calls = e2e.llm.stats.calls[calls_before:]
    assert [(c.api, c.status, c.body["model"]) for c in calls] == [
        ("anthropic", 404, "unknown-claude")
    ]
