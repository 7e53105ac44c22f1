"""The OpenAPI document describes every route with the shared envelopes."""

from __future__ import annotations

import json
from pathlib import Path

from llmctl_gateway import openapi_document
from llmctl_gateway.api_reference import render_reference
from llmctl_gateway.openapi import openapi_json


def test_openapi_document() -> None:
    doc = openapi_document()
    assert doc["openapi"].startswith("3.1")
    assert set(doc["paths"]) == {
        "/api/v1/health",
        "/api/v1/flowcharts",
        "/api/v1/flowcharts/{flowchart_id}",
        "/api/v1/flowcharts/validate",
        "/api/v1/flowcharts/{flowchart_id}/versions",
        "/api/v1/flowcharts/{flowchart_id}/versions/{version}",
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
        "/api/v1/routing/conditions/validate",
        "/api/v1/routing/next-nodes",
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


REFERENCE = Path(__file__).resolve().parents[3] / "docs" / "reference"
REGENERATE = "python -m llmctl_gateway.api_reference docs/reference"


def test_openapi_document_matches_the_committed_snapshot() -> None:
    """A contract change is always a visible diff in docs/reference/openapi.json."""
    snapshot = REFERENCE / "openapi.json"
    assert json.loads(snapshot.read_text()) == json.loads(openapi_json()), REGENERATE


def test_api_reference_is_generated_from_the_snapshot() -> None:
    """docs/reference/api.md is exactly what the generator renders from openapi.json."""
    document = json.loads((REFERENCE / "openapi.json").read_text())
    assert (REFERENCE / "api.md").read_text() == render_reference(document), REGENERATE


def test_reference_lists_every_operation_and_its_errors() -> None:
    document = openapi_document()
    text = render_reference(document)
    for path, item in document["paths"].items():
        for method in item:
            assert f"### `{method.upper()} {path}`" in text
    assert "| `Idempotency-Key` | header | no |" in text
    assert "| 422 |" in text


def test_every_operation_documents_its_errors_in_the_envelope() -> None:
    """Every 4xx/5xx a route documents uses the shared envelope (schemathesis checks bodies)."""
    for path, item in openapi_document()["paths"].items():
        for method, op in item.items():
            for status, response in op["responses"].items():
                if int(status) >= 400 and path != "/api/v1/health":
                    schema = response["content"]["application/json"]["schema"]
                    assert schema["$ref"].endswith("ErrorEnvelope"), (method, path, status)


def test_list_endpoints_document_pagination() -> None:
    paths = openapi_document()["paths"]
    for path in ("/api/v1/flowcharts", "/api/v1/runs"):
        params = {p["name"]: p for p in paths[path]["get"]["parameters"]}
        assert params["page_size"]["schema"]["maximum"] == 100
        assert params["page"]["schema"]["minimum"] == 1
        assert "-created_at" in params["sort"]["schema"]["enum"]
    runs = {p["name"] for p in paths["/api/v1/runs"]["get"]["parameters"]}
    assert {"flowchart_id", "status"} <= runs
    for path, method in [
        ("/api/v1/flowcharts", "post"),
        ("/api/v1/flowcharts/{flowchart_id}", "put"),
        ("/api/v1/flowcharts/{flowchart_id}", "delete"),
        ("/api/v1/runs", "post"),
    ]:
        names = {p["name"] for p in paths[path][method]["parameters"]}
        assert "Idempotency-Key" in names, (method, path)
