"""End-to-end fixtures: every service as its own process on a private NATS and a fresh database."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msgspec
import nats
import pytest
import sqlalchemy as sa
import websockets
from sqlalchemy.ext.asyncio import create_async_engine

from llmctl_contracts import payload_type, subjects
from llmctl_contracts.artifacts import ARTIFACT_KIND_BY_NODE_TYPE
from llmctl_contracts.flowchart import FlowchartDefinition
from llmctl_infra.embedded import NatsServer, PostgresServer
from llmctl_infra.testing import (
    DemoLLMHandle,
    ServiceProcesses,
    create_database,
    demo_llm_server,
    unique_database_name,
)
from llmctl_orchestrator.engine import FlowchartGraph, RunEvent, RunState, replay
from llmctl_orchestrator.projections import project

HELLO = Path(__file__).resolve().parents[2] / "examples" / "flowcharts" / "hello.json"
ALL_SERVICES = ["orchestrator", "router", "toolhub", "models", "executor-frontier", "gateway"]
TIMEOUT_GRACE_SECONDS = 1.0
"""How long past a node's timeout the orchestrator waits for a silent worker (in e2e stacks)."""
PROVIDER_KEY_ENV = "LLMCTL_E2E_PROVIDER_KEY"
"""Set in every service's environment: models created by tests reference it (``secret_ref``)."""
PROVIDER_KEY = "e2e-provider-key"
"""Its value, a key the demo model accepts on every wire format."""


@dataclass
class Gate:
    """Holds demo-model completions until released; records that one arrived.

    ``holds`` chooses which request bodies the closed gate holds (default: all of them).
    """

    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    open: asyncio.Event = field(default_factory=asyncio.Event)
    holds: Callable[[dict[str, Any]], bool] = lambda body: True

    async def __call__(self, body: dict[str, Any]) -> None:
        if not self.holds(body):
            return
        self.arrived.set()
        await self.open.wait()


@dataclass
class E2EStack:
    """The running services, the in-process demo model and an HTTP client on the gateway."""

    services: ServiceProcesses
    llm: DemoLLMHandle
    gate: Gate
    http: httpx.AsyncClient
    provider_key_env: str = PROVIDER_KEY_ENV
    provider_key: str = PROVIDER_KEY

    @property
    def llm_root_url(self) -> str:
        """The demo model's root URL (Anthropic and Gemini/Vertex base URL)."""
        return self.llm.base_url.removesuffix("/v1")

    @property
    def ws_url(self) -> str:
        return self.services.gateway_url.replace("http://", "ws://") + "/api/v1/ws"

    async def create_flowchart(self, document: dict[str, Any]) -> str:
        response = await self.http.post("/api/v1/flowcharts", json=document)
        assert response.status_code == 201, response.text
        return str(response.json()["data"]["id"])

    async def start_run(
        self, flowchart_id: str, key: str | None = None, **run_input: Any
    ) -> dict[str, Any]:
        headers = {"Idempotency-Key": key} if key else {}
        response = await self.http.post(
            "/api/v1/runs", json={"flowchart_id": flowchart_id, "input": run_input}, headers=headers
        )
        assert response.status_code == 201, response.text
        return dict(response.json()["data"])

    async def run(self, run_id: str) -> dict[str, Any]:
        return dict((await self.http.get(f"/api/v1/runs/{run_id}")).json()["data"])

    async def run_if_reachable(self, run_id: str) -> dict[str, Any] | None:
        """The run, or None while the gateway reports the bus unavailable (503/504)."""
        response = await self.http.get(f"/api/v1/runs/{run_id}")
        if response.status_code in (503, 504):
            return None
        assert response.status_code == 200, response.text
        return dict(response.json()["data"])

    async def node_runs(self, run_id: str) -> list[dict[str, Any]]:
        """Every node run of the run, page after page until a page is empty."""
        records: list[dict[str, Any]] = []
        while True:
            response = await self.http.get(
                f"/api/v1/runs/{run_id}/node-runs", params={"offset": len(records)}
            )
            assert response.status_code == 200, response.text
            if not (page := response.json()["data"]):
                return records
            records += page

    async def events(self, run_id: str) -> list[dict[str, Any]]:
        return list((await self.http.get(f"/api/v1/runs/{run_id}/events")).json()["data"])

    async def follow(
        self,
        run_id: str,
        *,
        after: int = 0,
        until: Callable[[dict[str, Any]], bool] | None = None,
        timeout: float = 120.0,
    ) -> list[dict[str, Any]]:
        """Websocket events of a run until ``until`` (default: the run's terminal event)."""
        done = until or (lambda e: e["event_type"] in ("run.succeeded", "run.failed"))
        frames: list[dict[str, Any]] = []
        async with asyncio.timeout(timeout), websockets.connect(self.ws_url) as ws:
            await ws.send(
                json.dumps({"type": "subscribe", "run_id": run_id, "after_sequence": after})
            )
            while True:
                frame = json.loads(await ws.recv())
                assert frame["type"] in ("subscribed", "event"), frame
                if frame["type"] == "event":
                    frames.append(frame)
                    if done(frame):
                        return frames

    async def first_executor_report(self, run_id: str) -> dict[str, Any]:
        """The first ``node.executed`` report a worker published for ``run_id`` (JetStream)."""
        nc = await nats.connect(self.services.endpoints.nats_url)
        try:
            reports = await nc.jetstream().subscribe(
                subjects.exec_event(run_id), ordered_consumer=True
            )
            return dict(json.loads((await reports.next_msg(timeout=30)).data))
        finally:
            await nc.close()

    async def control_node_run(
        self,
        run_id: str,
        node_run_id: str,
        action: str,
        key: str | None = None,
        **body: Any,
    ) -> httpx.Response:
        """POST a node-run operation (retry, skip, rewind)."""
        headers = {"Idempotency-Key": key} if key else {}
        return await self.http.post(
            f"/api/v1/runs/{run_id}/node-runs/{node_run_id}/{action}", json=body, headers=headers
        )

    async def assert_rebuilds(self, run_id: str) -> None:
        """Rebuild the run's projections and engine state from its events alone (as served by
        the API) and compare them with the live ones."""
        run = await self.run(run_id)
        records = await self.events(run_id)
        events = [
            RunEvent(
                e["sequence"],
                e["type"],
                msgspec.convert(e["payload"], payload_type(e["type"], e["version"])),
            )
            for e in records
        ]
        view = project(events)
        assert (view.status, view.last_sequence, view.node_executions) == (
            run["status"],
            run["last_sequence"],
            run["node_executions"],
        )
        assert (view.error, view.outcome) == (run["error"], run["outcome"])
        live = {n["id"]: n for n in await self.node_runs(run_id)}
        assert set(live) == set(view.node_runs)
        for node_run_id, rebuilt in view.node_runs.items():
            node_run = live[node_run_id]
            assert {k: node_run[k] for k in vars(rebuilt)} == vars(rebuilt), node_run_id
        response = await self.http.get(f"/api/v1/flowcharts/{run['flowchart_id']}")
        flowchart = response.json()["data"]
        assert flowchart["version"] == run["flowchart_version"]
        graph = FlowchartGraph.build(msgspec.convert(flowchart["definition"], FlowchartDefinition))
        engine = create_async_engine(self.services.endpoints.database_url)
        try:
            async with engine.connect() as conn:
                saved = (
                    await conn.execute(
                        sa.text(
                            "SELECT state, state_sequence FROM orchestrator.runs WHERE id = :id"
                        ),
                        {"id": run_id},
                    )
                ).one()
        finally:
            await engine.dispose()
        # the saved state is a snapshot: the fold of the events up to its sequence
        assert saved.state_sequence <= run["last_sequence"]
        snapshot = [e for e in events if e.sequence <= saved.state_sequence]
        assert replay(graph, snapshot) == msgspec.msgpack.decode(saved.state, type=RunState)
        await self.assert_artifacts(run_id, list(live.values()))

    async def assert_artifacts(self, run_id: str, node_runs: list[dict[str, Any]]) -> None:
        """Exactly one artifact per finished node run, showing the node run as it ended."""
        response = await self.http.get(f"/api/v1/runs/{run_id}/artifacts", params={"limit": 1000})
        assert response.status_code == 200, response.text
        listed = response.json()["data"]
        by_node_run = {a["node_run_id"]: a for a in listed}
        assert len(by_node_run) == len(listed), "two artifacts for one node run"
        finished = {n["id"]: n for n in node_runs if n["status"] in FINISHED_NODE_RUN}
        assert set(by_node_run) == set(finished)
        for node_run_id, node_run in finished.items():
            artifact = by_node_run[node_run_id]
            content = artifact["content"]
            assert artifact["status"] == node_run["status"], node_run_id
            assert artifact["kind"] == ARTIFACT_KIND_BY_NODE_TYPE[node_run["node_type"]]
            assert artifact["idempotency_key"] == f"artifact:{node_run_id}"
            assert artifact["superseded"] == node_run["superseded"]
            if node_run["status"] in ("succeeded", "succeeded_with_warning", "skipped"):
                assert content["output"] == node_run["output"], node_run_id
            if node_run["status"] == "failed":
                assert content["error"] == node_run["error"], node_run_id
            if node_run["routing_state"] is not None:
                assert content["routing_state"] == node_run["routing_state"], node_run_id
            if node_run["node_type"] == "task" and node_run["status"] == "succeeded":
                assert content["detail"]["messages"], node_run_id
                assert content["detail"]["model"], node_run_id

    async def finish(self, flowchart: dict[str, Any], **run_input: Any) -> dict[str, Any]:
        """Create ``flowchart``, run it with ``run_input`` to its end, check that its
        projections rebuild from its events, and return the finished run."""
        run = await self.start_run(await self.create_flowchart(flowchart), **run_input)
        finished = await self.wait_terminal(run["id"])
        await self.assert_rebuilds(run["id"])
        return finished

    async def wait_terminal(self, run_id: str, timeout: float = 120.0) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                run = await self.run_if_reachable(run_id)
                if run is not None and run["status"] in ("succeeded", "failed", "cancelled"):
                    return run
                await asyncio.sleep(0.05)


FINISHED_NODE_RUN = frozenset(
    {"succeeded", "succeeded_with_warning", "failed", "cancelled", "skipped"}
)


@pytest.fixture
def hello() -> dict[str, Any]:
    return dict(json.loads(HELLO.read_text()))


@contextlib.asynccontextmanager
async def running_stack(root: Path, nats_url: str, database_url: str) -> AsyncIterator[E2EStack]:
    """Migrate, start every service, and hand out a client; stop everything afterwards."""
    gate = Gate()
    gate.open.set()
    async with demo_llm_server(before_completion=gate) as llm:
        services = ServiceProcesses(
            ALL_SERVICES,
            nats_url=nats_url,
            database_url=database_url,
            log_dir=root / "logs",
            demo_llm_url=llm.base_url,
            extra_env={
                "LLMCTL_NODE_TIMEOUT_GRACE_SECONDS": str(TIMEOUT_GRACE_SECONDS),
                PROVIDER_KEY_ENV: PROVIDER_KEY,
            },
        )
        await asyncio.to_thread(services.start_all)  # migrates first
        try:
            async with httpx.AsyncClient(base_url=services.gateway_url, timeout=30) as http:
                yield E2EStack(services=services, llm=llm, gate=gate, http=http)
        finally:
            gate.open.set()  # a test that failed holding the gate must not hang the model server
            await asyncio.to_thread(services.stop_all)


@pytest.fixture(scope="module")
async def e2e(
    tmp_path_factory: pytest.TempPathFactory, postgres_admin_url: str
) -> AsyncIterator[E2EStack]:
    """One stack shared by a module's tests (for tests that kill nothing)."""
    root = tmp_path_factory.mktemp("e2e")
    nats = NatsServer(root / "nats", log_path=root / "nats.log")
    nats.start()
    try:
        database_url = create_database(postgres_admin_url, unique_database_name("e2e"))
        async with running_stack(root, nats.url, database_url) as stack:
            yield stack
    finally:
        nats.stop()


@pytest.fixture
async def e2e_private_infra(
    tmp_path: Path, private_nats_server: NatsServer, private_postgres_server: PostgresServer
) -> AsyncIterator[tuple[E2EStack, NatsServer, PostgresServer]]:
    """A stack on its own NATS and Postgres, both of which the test may kill and restart."""
    database_url = private_postgres_server.sqlalchemy_url()
    async with running_stack(tmp_path, private_nats_server.url, database_url) as stack:
        yield stack, private_nats_server, private_postgres_server


@pytest.fixture
async def e2e_private(
    tmp_path: Path, private_nats_server: NatsServer, database_url: str
) -> AsyncIterator[E2EStack]:
    """A stack of this test only: its services, NATS and database may be killed."""
    async with running_stack(tmp_path, private_nats_server.url, database_url) as stack:
        yield stack


API_SERVICES = ["orchestrator", "models", "gateway"]
"""What the gateway API tests need: no worker or router (runs stay running)."""


@dataclass
class ApiStack:
    """The orchestrator, the models service and the gateway as processes, on their own NATS
    and database."""

    services: ServiceProcesses
    http: httpx.AsyncClient

    @property
    def nats_url(self) -> str:
        return self.services.endpoints.nats_url

    @property
    def ws_url(self) -> str:
        return self.services.gateway_url.replace("http://", "ws://") + "/api/v1/ws"


@pytest.fixture(scope="module")
async def api_stack(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_admin_url: str,
) -> AsyncIterator[ApiStack]:
    """Orchestrator + models + gateway shared by a module's tests (nothing is killed); a
    module's ``API_EXTRA_SERVICES`` list adds services (the API fuzz test adds the router)."""
    extra: list[str] = list(getattr(request.module, "API_EXTRA_SERVICES", []))
    root = tmp_path_factory.mktemp("api")
    nats = NatsServer(root / "nats", log_path=root / "nats.log")
    nats.start()
    try:
        services = ServiceProcesses(
            [*extra, *API_SERVICES],
            nats_url=nats.url,
            database_url=create_database(postgres_admin_url, unique_database_name("api")),
            log_dir=root / "logs",
            extra_env={
                "LLMCTL_GATEWAY_SERVICES": ",".join(["orchestrator", "models", *extra]),
                # small, so the slow-client test overflows a queue quickly
                "LLMCTL_GATEWAY_WS_SEND_QUEUE": "16",
                "LLMCTL_GATEWAY_WS_SEND_TIMEOUT": "0.5",
            },
        )
        await asyncio.to_thread(services.start_all)
        try:
            async with httpx.AsyncClient(base_url=services.gateway_url, timeout=30) as http:
                yield ApiStack(services=services, http=http)
        finally:
            await asyncio.to_thread(services.stop_all)
    finally:
        nats.stop()
