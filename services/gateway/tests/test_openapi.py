"""The OpenAPI document describes every route with the shared envelopes."""

from __future__ import annotations

import json
from pathlib import Path

from llmctl_gateway import openapi_document
from llmctl_gateway.openapi import openapi_json


def test_openapi_document() -> None:
    doc = openapi_document()
    assert doc["openapi"].startswith("3.1")
    assert set(doc["paths"]) == {
        "/api/v1/health",
        "/api/v1/flowcharts",
        "/api/v1/flowcharts/{flowchart_id}",
        "/api/v1/runs",
        "/api/v1/runs/{run_id}",
        "/api/v1/runs/{run_id}/node-runs",
        "/api/v1/runs/{run_id}/events",
        "/api/v1/runs/{run_id}/artifacts",
        "/api/v1/runs/{run_id}/artifacts/{artifact_id}",
        "/api/v1/runs/{run_id}/pause",
        "/api/v1/runs/{run_id}/resume",
        "/api/v1/runs/{run_id}/cancel",
        "/api/v1/runs/{run_id}/node-runs/{node_run_id}/retry",
        "/api/v1/runs/{run_id}/node-runs/{node_run_id}/skip",
        "/api/v1/runs/{run_id}/node-runs/{node_run_id}/rewind",
        "/api/v1/providers",
        "/api/v1/providers/{provider}",
        "/api/v1/models",
        "/api/v1/models/{model_id}",
        "/api/v1/models/validate-provider-settings",
        "/api/v1/runtime-settings",
    }
    create = doc["paths"]["/api/v1/flowcharts"]["post"]
    body_ref = create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert body_ref == "#/components/schemas/FlowchartDefinition"
    run_body = doc["paths"]["/api/v1/runs"]["post"]["requestBody"]
    assert run_body["content"]["application/json"]["schema"]["required"] == ["flowchart_id"]
    for action in ("pause", "resume", "cancel"):
        control = doc["paths"][f"/api/v1/runs/{{run_id}}/{action}"]["post"]
        assert control["requestBody"]["required"] is False
        schema = control["requestBody"]["content"]["application/json"]["schema"]
        assert schema["title"] == "ControlRunBody"
        assert set(control["responses"]) == {"200", "400", "404", "409", "422", "503", "504"}
        ok = control["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        assert ok.endswith("RunResponse")
        assert "Idempotency-Key" in {p["name"] for p in control["parameters"]}
    schemas = doc["components"]["schemas"]
    for name in ("FlowchartDefinition", "ErrorEnvelope", "RunResponse"):
        assert name in schemas
    assert create["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "ErrorEnvelope"
    )


def test_openapi_document_matches_the_committed_snapshot() -> None:
    """A contract change is always a visible diff in docs/reference/openapi.json.

    Regenerate: ``uv run python -c "from llmctl_gateway.openapi import openapi_json;
    print(openapi_json(), end='')" > docs/reference/openapi.json``.
    """
    snapshot = Path(__file__).resolve().parents[3] / "docs" / "reference" / "openapi.json"
    assert json.loads(snapshot.read_text()) == json.loads(openapi_json())
