"""Run control (pause/resume/cancel) against a real uvicorn server, nats-server and a stub."""

from __future__ import annotations

import httpx
import msgspec
import pytest
from gateway_testkit import StubOrchestrator, assert_error

from llmctl_contracts.rpc import ControlRun

pytestmark = pytest.mark.timeout(60)


def running(orchestrator: StubOrchestrator) -> str:
    run = orchestrator.add_run()
    orchestrator.runs[run.id] = msgspec.structs.replace(run, status="running")
    return run.id


@pytest.mark.parametrize(("action", "status"), [("pause", "pausing"), ("cancel", "cancelled")])
async def test_control_sends_control_run_and_answers_the_run(
    http: httpx.AsyncClient, orchestrator: StubOrchestrator, action: str, status: str
) -> None:
    run_id = running(orchestrator)
    response = await http.post(
        f"/api/v1/runs/{run_id}/{action}",
        json={"reason": "operator asked"},
        headers={"Idempotency-Key": "ctl-key-1", "X-Request-ID": "req-7"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ok"] is True
    assert body["data"]["id"] == run_id
    assert body["data"]["status"] == status
    assert body["correlation_id"] == response.headers["x-correlation-id"] == "req-7"
    assert orchestrator.control_requests == [
        ControlRun(run_id=run_id, action=action, request_id="ctl-key-1", reason="operator asked")  # type: ignore[arg-type]
    ]


async def test_request_id_defaults_to_x_request_id(
    http: httpx.AsyncClient, orchestrator: StubOrchestrator
) -> None:
    run_id = running(orchestrator)
    response = await http.post(f"/api/v1/runs/{run_id}/pause", headers={"X-Request-ID": "req-42"})
    assert response.status_code == 200, response.text
    sent = orchestrator.control_requests[-1]
    assert (sent.action, sent.request_id, sent.reason) == ("pause", "req-42", None)

    generated = await http.post(f"/api/v1/runs/{run_id}/resume")
    assert generated.status_code == 200, generated.text
    assert generated.json()["data"]["status"] == "running"
    sent = orchestrator.control_requests[-1]
    assert sent.action == "resume"
    assert sent.request_id == generated.headers["x-request-id"]


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        (b"", {}),
        (b"", {"content-type": "application/json"}),
        (b"  \n", {"content-type": "application/json"}),
        (b"{}", {"content-type": "application/json"}),
        (b'{"reason": null}', {"content-type": "application/json"}),
    ],
)
async def test_empty_body_is_accepted(
    http: httpx.AsyncClient,
    orchestrator: StubOrchestrator,
    content: bytes,
    headers: dict[str, str],
) -> None:
    run_id = running(orchestrator)
    response = await http.post(f"/api/v1/runs/{run_id}/cancel", content=content, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["status"] == "cancelled"
    assert orchestrator.control_requests[-1].reason is None


async def test_malformed_or_invalid_body_is_rejected_before_the_rpc(
    http: httpx.AsyncClient, orchestrator: StubOrchestrator
) -> None:
    run_id = running(orchestrator)
    json_header = {"content-type": "application/json"}
    malformed = await http.post(
        f"/api/v1/runs/{run_id}/pause", content=b"{reason", headers=json_header
    )
    body = assert_error(malformed, 400, "malformed")
    assert body["error"]["details"][0]["field"] == "$"

    extra = await http.post(f"/api/v1/runs/{run_id}/pause", json={"reason": "x", "force": True})
    detail = assert_error(extra, 422, "validation_failed")["error"]["details"][0]
    assert "force" in detail["reason"]

    wrong_type = await http.post(f"/api/v1/runs/{run_id}/cancel", json={"reason": 5})
    detail = assert_error(wrong_type, 422, "validation_failed")["error"]["details"][0]
    assert detail["field"] == "$.reason"

    too_long = await http.post(f"/api/v1/runs/{run_id}/cancel", json={"reason": "x" * 1001})
    assert_error(too_long, 422, "validation_failed")

    not_an_object = await http.post(f"/api/v1/runs/{run_id}/cancel", json=["stop"])
    assert_error(not_an_object, 422, "validation_failed")

    text = await http.post(
        f"/api/v1/runs/{run_id}/cancel", content=b"stop", headers={"content-type": "text/plain"}
    )
    assert_error(text, 415, "malformed")

    empty_key = await http.post(f"/api/v1/runs/{run_id}/cancel", headers={"Idempotency-Key": ""})
    assert_error(empty_key, 422, "validation_failed")

    assert orchestrator.control_requests == []
    assert orchestrator.runs[run_id].status == "running"


async def test_unknown_run_is_404(http: httpx.AsyncClient, orchestrator: StubOrchestrator) -> None:
    for action in ("pause", "resume", "cancel"):
        response = await http.post(f"/api/v1/runs/no-such-run/{action}")
        body = assert_error(response, 404, "not_found")
        assert "no-such-run" in body["error"]["message"]
    assert [r.action for r in orchestrator.control_requests] == ["pause", "resume", "cancel"]


async def test_action_not_allowed_is_409(
    http: httpx.AsyncClient, orchestrator: StubOrchestrator
) -> None:
    run_id = running(orchestrator)
    body = assert_error(await http.post(f"/api/v1/runs/{run_id}/resume"), 409, "conflict")
    assert "resume" in body["error"]["message"]

    finished = orchestrator.add_run()
    orchestrator.runs[finished.id] = msgspec.structs.replace(finished, status="succeeded")
    assert_error(await http.post(f"/api/v1/runs/{finished.id}/pause"), 409, "conflict")
    assert_error(await http.post(f"/api/v1/runs/{finished.id}/cancel"), 409, "conflict")
    assert orchestrator.runs[finished.id].status == "succeeded"


async def test_repeated_idempotency_key_returns_the_first_result(
    http: httpx.AsyncClient, orchestrator: StubOrchestrator
) -> None:
    run_id = running(orchestrator)
    headers = {"Idempotency-Key": "cancel-once"}
    first = await http.post(f"/api/v1/runs/{run_id}/cancel", headers=headers)
    second = await http.post(f"/api/v1/runs/{run_id}/cancel", headers=headers)
    assert first.status_code == second.status_code == 200, (first.text, second.text)
    assert first.json()["data"] == second.json()["data"]
    assert [r.request_id for r in orchestrator.control_requests] == ["cancel-once"] * 2
    # a new key on the now-cancelled run is a conflict
    other = await http.post(f"/api/v1/runs/{run_id}/cancel", headers={"Idempotency-Key": "k2"})
    assert_error(other, 409, "conflict")


async def test_no_orchestrator_is_503(http: httpx.AsyncClient) -> None:
    body = assert_error(await http.post("/api/v1/runs/some-run/cancel"), 503, "unavailable")
    assert "orchestrator" in body["error"]["message"]


async def test_control_needs_post(http: httpx.AsyncClient) -> None:
    assert_error(await http.get("/api/v1/runs/some-run/cancel"), 405, "malformed")
