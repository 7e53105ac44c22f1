"""A stub orchestrator serving the gateway's RPCs from memory, and event publishing helpers."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime
from typing import Any

import httpx
import msgspec

from llmctl_contracts import Envelope, ErrorBody, ErrorCode, encode, subjects
from llmctl_contracts.rpc import (
    ControlRun,
    CreateFlowchart,
    FlowchartRecord,
    GetById,
    HealthReport,
    ListNodeRuns,
    ListRunEvents,
    NodeRunRecord,
    RunEventRecord,
    RunRecord,
    StartRun,
)
from llmctl_libs.bus import Bus
from llmctl_libs.ids import new_id
from llmctl_libs.rpc import RpcError, endpoint

__all__ = ["SLOW_ID", "StubOrchestrator", "serve_health"]

SLOW_ID = "slow-entity"
NOW = "2025-01-01T00:00:00Z"

CONTROL_TRANSITIONS: dict[str, dict[str, str]] = {
    "pause": {"queued": "pausing", "running": "pausing"},
    "resume": {"pausing": "running", "paused": "running"},
    "cancel": {
        "queued": "cancelled",
        "running": "cancelled",
        "pausing": "cancelled",
        "paused": "cancelled",
    },
}
"""Status a control action leads to, by the run's current status (anything else: conflict)."""


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Assert ``response`` is the shared error envelope with ``status``/``code``; return it."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["ok"] is False
    assert body["error"]["code"] == code
    assert body["error"]["request_id"] == response.headers["x-request-id"]
    assert body["correlation_id"] == response.headers["x-correlation-id"]
    assert "Traceback" not in response.text
    return body


def _not_found(what: str, id_: str) -> RpcError:
    return RpcError(ErrorBody(code=ErrorCode.NOT_FOUND, message=f"{what} {id_} not found"))


def serve_health(bus: Bus, services: tuple[str, ...]) -> None:
    """Answer ``health`` for each of ``services`` on ``bus``."""
    for service in services:

        async def report(_: dict[str, Any], name: str = service) -> HealthReport:
            return HealthReport(service=name, healthy=True, pid=os.getpid())

        endpoint(bus, subjects.rpc(service, "health"), dict, report)


class StubOrchestrator:
    """In-memory orchestrator answering the RPCs the gateway calls."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.flowcharts: dict[str, FlowchartRecord] = {}
        self.runs: dict[str, RunRecord] = {}
        self.runs_by_key: dict[str, str] = {}
        self.node_runs: dict[str, list[NodeRunRecord]] = {}
        self.events: dict[str, dict[int, RunEventRecord]] = {}
        self.start_requests: list[StartRun] = []
        self.create_requests: list[CreateFlowchart] = []
        self.event_requests: list[ListRunEvents] = []
        self.control_requests: list[ControlRun] = []
        self.control_results: dict[tuple[str, str], RunRecord] = {}

    def register(self) -> None:
        """Register every responder (before ``bus.start()``)."""

        def rpc(op: str, req: type[Any], func: Any) -> None:
            endpoint(self.bus, subjects.rpc("orchestrator", op), req, func)

        rpc("flowchart.create", CreateFlowchart, self.create_flowchart)
        rpc("flowchart.get", GetById, self.get_flowchart)
        rpc("run.start", StartRun, self.start_run)
        rpc("run.get", GetById, self.get_run)
        rpc("run.node_runs", ListNodeRuns, self.get_node_runs)
        rpc("run.events", ListRunEvents, self.list_events)
        rpc("run.control", ControlRun, self.control_run)

    async def create_flowchart(self, req: CreateFlowchart) -> FlowchartRecord:
        self.create_requests.append(req)
        record = FlowchartRecord(
            id=new_id(),
            version=1,
            name=req.definition.name,
            definition=req.definition,
            created_at=NOW,
        )
        self.flowcharts[record.id] = record
        return record

    async def get_flowchart(self, req: GetById) -> FlowchartRecord:
        if req.id == SLOW_ID:
            await asyncio.sleep(3.0)
        if req.id not in self.flowcharts:
            raise _not_found("flowchart", req.id)
        return self.flowcharts[req.id]

    def add_run(self, run_id: str | None = None, flowchart_id: str = "fc") -> RunRecord:
        record = RunRecord(
            id=run_id or new_id(),
            flowchart_id=flowchart_id,
            flowchart_version=1,
            status="queued",
            input={},
            node_executions=0,
            created_at=NOW,
            updated_at=NOW,
            correlation_id=new_id(),
        )
        self.runs[record.id] = record
        self.events.setdefault(record.id, {})
        return record

    async def start_run(self, req: StartRun) -> RunRecord:
        self.start_requests.append(req)
        if req.flowchart_id not in self.flowcharts:
            raise _not_found("flowchart", req.flowchart_id)
        if req.idempotency_key and req.idempotency_key in self.runs_by_key:
            return self.runs[self.runs_by_key[req.idempotency_key]]
        record = msgspec.structs.replace(
            self.add_run(flowchart_id=req.flowchart_id),
            input=req.input,
            correlation_id=req.correlation_id or "",
        )
        self.runs[record.id] = record
        if req.idempotency_key:
            self.runs_by_key[req.idempotency_key] = record.id
        return record

    async def get_run(self, req: GetById) -> RunRecord:
        if req.id not in self.runs:
            raise _not_found("run", req.id)
        return self.runs[req.id]

    async def get_node_runs(self, req: ListNodeRuns) -> list[NodeRunRecord]:
        if req.run_id not in self.runs:
            raise _not_found("run", req.run_id)
        return self.node_runs.get(req.run_id, [])[req.offset : req.offset + req.limit]

    async def control_run(self, req: ControlRun) -> RunRecord:
        """Apply a control action; a repeated ``request_id`` returns the first result."""
        self.control_requests.append(req)
        if req.run_id not in self.runs:
            raise _not_found("run", req.run_id)
        key = (req.run_id, req.request_id)
        if key in self.control_results:
            return self.control_results[key]
        run = self.runs[req.run_id]
        status = CONTROL_TRANSITIONS[req.action].get(run.status)
        if status is None:
            raise RpcError(
                ErrorBody(
                    code=ErrorCode.CONFLICT,
                    message=f"cannot {req.action} run {run.id} in status {run.status}",
                )
            )
        record = msgspec.structs.replace(run, status=status)
        self.runs[run.id] = self.control_results[key] = record
        return record

    async def list_events(self, req: ListRunEvents) -> list[RunEventRecord]:
        self.event_requests.append(req)
        if req.run_id not in self.runs:
            raise _not_found("run", req.run_id)
        stored = self.events[req.run_id]
        return [stored[s] for s in sorted(stored) if s > req.after_sequence][: req.limit]

    def record_event(
        self,
        run_id: str,
        sequence: int,
        type_: str = "node.succeeded",
        payload: dict[str, Any] | None = None,
    ) -> Envelope:
        """Store an event (as the orchestrator's event store would) and return its envelope."""
        body = payload if payload is not None else {"n": sequence}
        envelope = Envelope(
            event_id=new_id(),
            type=type_,
            version=1,
            occurred_at=datetime.now(UTC),
            correlation_id="corr-" + run_id,
            run_id=run_id,
            node_run_id=f"nr-{sequence}",
            sequence=sequence,
            idempotency_key=f"{run_id}:{sequence}",
            payload=msgspec.Raw(encode(body)),
        )
        self.events.setdefault(run_id, {})[sequence] = RunEventRecord(
            event_id=envelope.event_id,
            type=type_,
            version=1,
            sequence=sequence,
            occurred_at=msgspec.json.encode(envelope.occurred_at).decode().strip('"'),
            run_id=run_id,
            correlation_id=envelope.correlation_id,
            payload=body,
            node_run_id=envelope.node_run_id,
        )
        return envelope

    async def publish(self, envelope: Envelope, *, msg_id: str | None = None) -> None:
        """Publish a stored event to JetStream (``msg_id`` defaults to a fresh id)."""
        entity, _, action = envelope.type.partition(".")
        assert envelope.run_id is not None
        await self.bus.publish(
            subjects.run_event(envelope.run_id, entity, action),
            encode(envelope),
            msg_id=msg_id or new_id(),
        )
