"""Bad input gets a clear error and never crashes a service or corrupts state."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import nats
import pytest

from llmctl_contracts import ErrorCode, subjects
from llmctl_contracts.rpc import ListNodeRuns, ListRunEvents, NodeRunRecord, RunEventRecord
from llmctl_libs.bus import Bus
from llmctl_libs.consumer import dead_letter_subject
from llmctl_libs.rpc import RpcError, call

if TYPE_CHECKING:
    from conftest import E2EStack


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        (b'{"name": "x", "nodes": [', 400, "malformed", "$"),
        (
            b'{"name": "x", "nodes": [{"type": "task", "id": "t"}]}',
            422,
            "validation_failed",
            "$.nodes[0].prompt",
        ),
        (
            b'{"name": "x", "nodes": [{"type": "end", "id": "e"}]}',
            422,
            "validation_failed",
            "$.nodes",
        ),
        (
            b'{"name": "x", "nodes": [{"type": "start", "id": "s"}, {"type": "end", "id": "e"}],'
            b' "connectors": [{"id": "c", "source": "s", "target": "nowhere"}]}',
            422,
            "validation_failed",
            "$.connectors[0].target",
        ),
    ],
)
async def test_bad_flowcharts_get_field_errors(
    e2e: E2EStack, body: bytes, status: int, code: str, field: str
) -> None:
    response = await e2e.http.post(
        "/api/v1/flowcharts",
        content=body,
        headers={"content-type": "application/json", "x-request-id": "req-1"},
    )
    assert response.status_code == status
    envelope = response.json()
    assert envelope["ok"] is False
    assert envelope["error"]["code"] == code
    assert envelope["error"]["request_id"] == "req-1"
    assert any(d["field"] == field for d in envelope["error"]["details"]), envelope


async def test_unknown_run_and_flowchart_are_404(e2e: E2EStack) -> None:
    for path in (
        "/api/v1/runs/nope",
        "/api/v1/runs/nope/node-runs",
        "/api/v1/runs/nope/events",
        "/api/v1/flowcharts/nope",
    ):
        response = await e2e.http.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"
    response = await e2e.http.post("/api/v1/runs", json={"flowchart_id": "nope"})
    assert response.status_code == 404


async def test_list_requests_on_the_bus_out_of_bounds_name_the_field(
    e2e: E2EStack, hello: dict[str, Any]
) -> None:
    """The orchestrator checks what the gateway checks, for callers on the bus."""
    run = await e2e.start_run(await e2e.create_flowchart(hello))
    assert (await e2e.wait_terminal(run["id"]))["status"] == "succeeded"
    bus = Bus(e2e.services.endpoints.nats_url, service="bad-list-test")
    await bus.start()
    cases: list[tuple[str, Any, type[Any], str]] = [
        ("run.node_runs", ListNodeRuns(run_id=run["id"], offset=-1), NodeRunRecord, "offset"),
        ("run.node_runs", ListNodeRuns(run_id=run["id"], limit=0), NodeRunRecord, "limit"),
        ("run.events", ListRunEvents(run_id=run["id"], limit=10_001), RunEventRecord, "limit"),
    ]
    try:
        for operation, request, record, field in cases:
            with pytest.raises(RpcError) as refused:
                await call(bus, subjects.rpc("orchestrator", operation), request, list[record])
            assert refused.value.body.code is ErrorCode.VALIDATION_FAILED, operation
            assert [d.field for d in refused.value.body.details] == [field], operation
        page = await call(
            bus,
            subjects.rpc("orchestrator", "run.node_runs"),
            ListNodeRuns(run_id=run["id"], offset=1, limit=1),
            list[NodeRunRecord],
        )
    finally:
        await bus.stop()
    assert [r.execution_index for r in page] == [0]  # the second node run, alone
    assert page[0].node_id == (await e2e.node_runs(run["id"]))[1]["node_id"]


async def test_malformed_bus_messages_are_dead_lettered_and_services_keep_working(
    e2e: E2EStack, hello: dict[str, Any]
) -> None:
    nc = await nats.connect(e2e.services.endpoints.nats_url)
    js = nc.jetstream()
    letters = {
        service: await js.subscribe(dead_letter_subject(service), ordered_consumer=True)
        for service in ("router", "orchestrator", "executor-frontier")
    }
    try:
        await js.publish(
            subjects.route_command(), b"this is not json", headers={"Nats-Msg-Id": "bad-1"}
        )
        unknown_version = {
            "event_id": "e",
            "type": "node.executed",
            "version": 99,
            "occurred_at": "2026-01-01T00:00:00Z",
            "correlation_id": "c",
            "idempotency_key": "bad-2",
            "run_id": "r",
            "payload": {},
        }
        await js.publish(
            subjects.exec_event("r"),
            json.dumps(unknown_version).encode(),
            headers={"Nats-Msg-Id": "bad-2"},
        )
        bad_payload = {
            **unknown_version,
            "version": 1,
            "idempotency_key": "bad-3",
            "payload": {"node_run_id": 7},
        }
        await js.publish(
            subjects.execute_command("frontier"),
            json.dumps({**bad_payload, "type": "node.execute"}).encode(),
            headers={"Nats-Msg-Id": "bad-3"},
        )
        router_letter = json.loads((await letters["router"].next_msg(timeout=30)).data)
        assert router_letter["error"]["code"] == "malformed"
        orchestrator_letter = json.loads((await letters["orchestrator"].next_msg(timeout=30)).data)
        assert orchestrator_letter["error"]["code"] == "unknown_version"
        executor_letter = json.loads((await letters["executor-frontier"].next_msg(timeout=30)).data)
        assert executor_letter["error"]["code"] == "validation_failed"
        assert executor_letter["error"]["details"][0]["field"].startswith("$.payload")
    finally:
        await nc.close()

    # every service is still up and a real run still succeeds
    health = await e2e.http.get("/api/v1/health")
    assert health.status_code == 200
    run = await e2e.start_run(await e2e.create_flowchart(hello))
    assert (await e2e.wait_terminal(run["id"]))["status"] == "succeeded"
