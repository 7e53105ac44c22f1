"""REST API against a real uvicorn server, a real nats-server and a stub orchestrator."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from gateway_testkit import SLOW_ID, StubOrchestrator, assert_error

from llmctl_contracts.rpc import NodeRunRecord

pytestmark = pytest.mark.timeout(60)

FLOWCHART: dict[str, Any] = {
    "name": "demo",
    "nodes": [
        {"type": "start", "id": "start"},
        {"type": "task", "id": "ask", "prompt": "Say hi"},
        {"type": "end", "id": "end"},
    ],
    "connectors": [
        {"id": "c1", "source": "start", "target": "ask"},
        {"id": "c2", "source": "ask", "target": "end"},
    ],
}


async def test_create_and_get_flowchart(
    http: httpx.AsyncClient, orchestrator: StubOrchestrator
) -> None:
    created = await http.post("/api/v1/flowcharts", json=FLOWCHART)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["ok"] is True
    assert body["data"]["name"] == "demo"
    assert body["correlation_id"] == created.headers["x-correlation-id"]
    assert orchestrator.create_requests[0].request_id == created.headers["x-request-id"]

    fetched = await http.get(f"/api/v1/flowcharts/{body['data']['id']}")
    assert fetched.status_code == 200
    assert fetched.json()["data"] == body["data"]


async def test_flowchart_missing_field_names_it(
    http: httpx.AsyncClient, orchestrator: StubOrchestrator
) -> None:
    bad = {**FLOWCHART, "nodes": [*FLOWCHART["nodes"][:2], {"type": "task", "id": "t2"}]}
    response = await http.post("/api/v1/flowcharts", json=bad)
    body = assert_error(response, 422, "validation_failed")
    assert body["error"]["details"][0]["field"] == "$.nodes[2].prompt"
    assert orchestrator.create_requests == []


async def test_malformed_json_is_400(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/api/v1/flowcharts", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_error(response, 400, "malformed")
    empty = await http.post("/api/v1/runs", content=b"")
    assert_error(empty, 400, "malformed")


async def test_wrong_content_type_is_415(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/api/v1/flowcharts", content=b"name=x", headers={"content-type": "text/plain"}
    )
    assert_error(response, 415, "malformed")


async def test_wrong_shape_is_422(http: httpx.AsyncClient) -> None:
    response = await http.post("/api/v1/runs", json=[1, 2])
    body = assert_error(response, 422, "validation_failed")
    assert body["error"]["details"][0]["field"] == "$"
    extra = await http.post("/api/v1/runs", json={"flowchart_id": "x", "bogus": 1})
    detail = assert_error(extra, 422, "validation_failed")["error"]["details"][0]
    assert "bogus" in detail["reason"]


async def test_unknown_route_and_method(http: httpx.AsyncClient) -> None:
    assert_error(await http.get("/api/v1/nope"), 404, "not_found")
    assert_error(await http.delete("/api/v1/flowcharts"), 405, "malformed")


async def test_query_validation_is_422(
    http: httpx.AsyncClient, orchestrator: StubOrchestrator
) -> None:
    run = orchestrator.add_run()
    response = await http.get(f"/api/v1/runs/{run.id}/events", params={"limit": "0"})
    body = assert_error(response, 422, "validation_failed")
    assert "limit" in body["error"]["details"][0]["field"]
    response = await http.get(f"/api/v1/runs/{run.id}/events", params={"after_sequence": "x"})
    assert_error(response, 422, "validation_failed")


async def test_runs_endpoints(http: httpx.AsyncClient, orchestrator: StubOrchestrator) -> None:
    flowchart = (await http.post("/api/v1/flowcharts", json=FLOWCHART)).json()["data"]
    started = await http.post(
        "/api/v1/runs",
        json={"flowchart_id": flowchart["id"], "input": {"q": 1}},
        headers={"Idempotency-Key": "key-1", "X-Request-ID": "req-1"},
    )
    assert started.status_code == 201, started.text
    run = started.json()["data"]
    assert run["input"] == {"q": 1}
    sent = orchestrator.start_requests[-1]
    assert sent.idempotency_key == "key-1"
    assert sent.request_id == "req-1"
    assert sent.correlation_id == "req-1"

    again = await http.post(
        "/api/v1/runs", json={"flowchart_id": flowchart["id"]}, headers={"Idempotency-Key": "key-1"}
    )
    assert again.status_code == 201
    assert again.json()["data"]["id"] == run["id"]

    fetched = await http.get(f"/api/v1/runs/{run['id']}")
    assert fetched.status_code == 200
    assert fetched.json()["data"]["id"] == run["id"]

    node_runs = await http.get(f"/api/v1/runs/{run['id']}/node-runs")
    assert node_runs.status_code == 200
    assert node_runs.json()["data"] == []
    orchestrator.node_runs[run["id"]] = [
        NodeRunRecord(
            id=f"nr-{i}",
            run_id=run["id"],
            node_id="ask",
            node_type="task",
            execution_index=i,
            status="succeeded",
            attempt=1,
            input_context={},
            output={},
            routing_state=None,
            error=None,
            created_at="2026-11-25T00:00:00+00:00",
            updated_at="2026-11-25T00:00:00+00:00",
        )
        for i in range(3)
    ]
    page = await http.get(f"/api/v1/runs/{run['id']}/node-runs", params={"offset": 1, "limit": 1})
    assert [r["id"] for r in page.json()["data"]] == ["nr-1"]  # offset and limit reach it

    for seq in (1, 2, 3, 4):
        orchestrator.record_event(run["id"], seq)
    events = await http.get(
        f"/api/v1/runs/{run['id']}/events", params={"after_sequence": 1, "limit": 2}
    )
    assert events.status_code == 200
    assert [e["sequence"] for e in events.json()["data"]] == [2, 3]
    assert orchestrator.event_requests[-1].limit == 2


async def test_unknown_run_is_404(http: httpx.AsyncClient, orchestrator: StubOrchestrator) -> None:
    body = assert_error(await http.get("/api/v1/runs/does-not-exist"), 404, "not_found")
    assert "does-not-exist" in body["error"]["message"]
    assert_error(await http.get("/api/v1/runs/does-not-exist/events"), 404, "not_found")
    assert_error(
        await http.post("/api/v1/runs", json={"flowchart_id": "missing"}), 404, "not_found"
    )


async def test_no_responders_is_503(http: httpx.AsyncClient) -> None:
    # No orchestrator fixture: nobody answers the subject.
    body = assert_error(await http.get("/api/v1/runs/some-run"), 503, "unavailable")
    assert "orchestrator" in body["error"]["message"]


async def test_timeout_is_504(http: httpx.AsyncClient, orchestrator: StubOrchestrator) -> None:
    assert_error(await http.get(f"/api/v1/flowcharts/{SLOW_ID}"), 504, "timeout")


async def test_request_id_echo_and_generation(http: httpx.AsyncClient) -> None:
    echoed = await http.get("/api/v1/nope", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    assert echoed.headers["x-correlation-id"] == "abc-123"
    assert echoed.json()["error"]["request_id"] == "abc-123"

    both = await http.get("/", headers={"X-Request-ID": "abc-123", "X-Correlation-ID": "corr-9"})
    assert both.headers["x-request-id"] == "abc-123"
    assert both.headers["x-correlation-id"] == "corr-9"

    generated = await http.get("/")
    request_id = generated.headers["x-request-id"]
    assert len(request_id) == 36
    assert request_id[14] == "7"
    assert generated.headers["x-correlation-id"] == request_id

    unsafe = await http.get("/", headers={"X-Request-ID": "bad id\twith spaces"})
    assert unsafe.headers["x-request-id"] != "bad id\twith spaces"


async def test_health_all_healthy(http: httpx.AsyncClient, healthy_services: None) -> None:
    response = await http.get("/api/v1/health")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ok"] is True
    services = body["data"]["services"]
    assert set(services) == {
        "gateway",
        "orchestrator",
        "router",
        "toolhub",
        "models",
        "executor-frontier",
    }
    assert all(s["healthy"] and isinstance(s["pid"], int) for s in services.values())


async def test_health_unhealthy_is_503(http: httpx.AsyncClient) -> None:
    response = await http.get("/api/v1/health")
    assert response.status_code == 503
    body = response.json()
    assert body["ok"] is False
    services = body["data"]["services"]
    assert services["gateway"]["healthy"] is True
    assert services["router"] == {"healthy": False, "pid": None, "error": "unavailable"}


async def test_placeholder_page_and_schema(http: httpx.AsyncClient) -> None:
    page = await http.get("/")
    assert page.status_code == 200
    assert "not built yet" in page.text
    assert 'href="/schema"' in page.text
    assert 'href="/api/v1/health"' in page.text
    schema = await http.get("/schema/openapi.json")
    assert schema.status_code == 200
    assert schema.json()["openapi"].startswith("3.1")


async def test_every_new_endpoint_answers_503_when_the_orchestrator_is_down(
    http: httpx.AsyncClient,
) -> None:
    """No orchestrator on the bus: each flowchart and run-list operation is 503 `unavailable`
    in the shared envelope, after its own input checks passed."""
    calls = [
        ("GET", "/api/v1/flowcharts", None),
        ("POST", "/api/v1/flowcharts/validate", FLOWCHART),
        ("PUT", "/api/v1/flowcharts/fc", FLOWCHART),
        ("DELETE", "/api/v1/flowcharts/fc", None),
        ("GET", "/api/v1/flowcharts/fc/versions", None),
        ("GET", "/api/v1/flowcharts/fc/versions/1", None),
        ("GET", "/api/v1/runs", None),
    ]
    for method, url, body in calls:
        response = await http.request(method, url, json=body)
        assert_error(response, 503, "unavailable")


async def test_new_endpoints_check_input_before_asking_anyone(http: httpx.AsyncClient) -> None:
    """Bad input is refused by the gateway itself (no orchestrator needed), naming the field."""
    cases: list[tuple[str, str, Any, int, str, str]] = [
        ("PUT", "/api/v1/flowcharts/fc", {"name": "x"}, 422, "validation_failed", "$.nodes"),
        ("GET", "/api/v1/flowcharts?page_size=0", None, 422, "validation_failed", "page_size"),
        ("GET", "/api/v1/flowcharts?sort=bogus", None, 422, "validation_failed", "sort"),
        ("GET", "/api/v1/runs?status=sleeping", None, 422, "validation_failed", "status"),
        ("GET", "/api/v1/runs?page=1000001", None, 422, "validation_failed", "page"),
        ("GET", "/api/v1/flowcharts/fc/versions/0", None, 422, "validation_failed", "version"),
        ("GET", "/api/v1/runs/r/node-runs?limit=0", None, 422, "validation_failed", "limit"),
        ("GET", "/api/v1/runs/r/node-runs?limit=1001", None, 422, "validation_failed", "limit"),
        ("GET", "/api/v1/runs/r/node-runs?offset=-1", None, 422, "validation_failed", "offset"),
    ]
    for method, url, body, status, code, field in cases:
        error = assert_error(await http.request(method, url, json=body), status, code)
        assert any(field in d["field"] for d in error["error"]["details"]), (url, error)
    headers = {"Idempotency-Key": "k" * 256}
    error = assert_error(
        await http.delete("/api/v1/flowcharts/fc", headers=headers), 422, "validation_failed"
    )
    assert error["error"]["details"][0]["field"] == "header.Idempotency-Key"
    error = assert_error(await http.get("/api/v1/runs?page_size=0"), 422, "validation_failed")
    assert error["error"]["details"][0]["field"] == "query.page_size"
    error = assert_error(
        await http.get("/api/v1/flowcharts/fc/versions/0"), 422, "validation_failed"
    )
    assert error["error"]["details"][0]["field"] == "path.version"
