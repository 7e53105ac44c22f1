"""Toolhub test fixtures: a migrated toolhub schema on the shared embedded Postgres (domain and
node tests), and a running toolhub with the orchestrator and router as processes on a private
NATS with a bus client calling toolhub's tools (tool tests)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest

from llmctl_contracts import ErrorBody, ErrorCode, subjects
from llmctl_contracts.commands import ModelBinding
from llmctl_contracts.flowchart import FlowchartDefinition, Node
from llmctl_contracts.rpc import CreateFlowchart, FlowchartRecord, GetById, RunRecord, StartRun
from llmctl_contracts.tools import ToolCallRequest, ToolCallResult
from llmctl_infra.embedded import NatsServer
from llmctl_infra.ports import free_port
from llmctl_infra.testing import (
    DemoLLMHandle,
    ServiceProcesses,
    async_wait_until,
    create_database,
    demo_llm_server,
    unique_database_name,
)
from llmctl_libs.bus import Bus
from llmctl_libs.rpc import RpcError, call
from llmctl_libs.store import Database
from llmctl_libs.store.migrations import migrate
from llmctl_libs.tools import NodeRunTools, ToolCallStore, ToolClient, ToolRegistry, ToolRuntime
from llmctl_toolhub.app import DEFINITION
from llmctl_toolhub.domains.catalog import DOMAIN_OPERATIONS
from llmctl_toolhub.nodes.invoker import ToolCallError
from llmctl_toolhub.nodes.llm import OpenAIModelCaller
from llmctl_toolhub.tables import tool_calls
from llmctl_toolhub.tooling import MCP_PORT_ENV
from llmctl_toolhub.tools import domain_tools


async def migrated_database(admin_url: str) -> Database:
    """A fresh database with toolhub's migrations applied."""
    url = create_database(admin_url, unique_database_name("toolhub"))
    assert DEFINITION.schema is not None
    assert DEFINITION.migrations is not None
    await asyncio.to_thread(
        migrate, url, schema=DEFINITION.schema, script_location=DEFINITION.migrations
    )
    return Database(url, pool_size=2)


@pytest.fixture(scope="module")
async def toolhub_db(postgres_admin_url: str) -> AsyncIterator[Database]:
    """One migrated toolhub database per test module (tests use their own ids/scopes)."""
    database = await migrated_database(postgres_admin_url)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture(scope="module")
def domain_runtime(toolhub_db: Database) -> ToolRuntime:
    """The tool runtime over the domain tools, in process on the module's database."""
    registry = ToolRegistry()
    for spec in domain_tools():
        registry.register(spec)
    return ToolRuntime(registry, database=toolhub_db, store=ToolCallStore(tool_calls))


@pytest.fixture
def tools(domain_runtime: ToolRuntime) -> NodeRunTools:
    """A per-node-run invoker allowed every domain tool (a fresh node run per test)."""
    return domain_runtime.for_node_run(
        node_run_id=f"test-{uuid.uuid4().hex}",
        run_id="run-test",
        allowed_tools=[op.name for op in DOMAIN_OPERATIONS],
    )


async def tool_error(tools: Any, tool: str, arguments: dict[str, Any]) -> ErrorBody:
    """The error a call must fail with."""
    with pytest.raises(ToolCallError) as info:
        await tools(tool, arguments)
    return info.value.body


@pytest.fixture
def refused() -> Any:
    """``await refused(tools, tool, arguments)`` -> the ``ErrorBody`` of a failing call."""
    return tool_error


DEMO_KEY_ENV = "LLMCTL_TOOLHUB_TEST_DEMO_KEY"


@pytest.fixture(scope="module")
async def demo_llm() -> AsyncIterator[DemoLLMHandle]:
    """The offline demo model (OpenAI-compatible) served in-process."""
    async with demo_llm_server() as handle:
        yield handle


@pytest.fixture
def models(demo_llm: DemoLLMHandle, monkeypatch: pytest.MonkeyPatch) -> OpenAIModelCaller:
    """Model calls through the ``openai`` SDK to the demo model (key read from the env)."""
    monkeypatch.setenv(DEMO_KEY_ENV, "demo-key")
    binding = ModelBinding(
        name="offline-demo",
        provider="openai",
        provider_model_id="offline-demo",
        base_url=demo_llm.base_url,
        api_key_ref=DEMO_KEY_ENV,
    )

    async def resolve(name: str | None) -> ModelBinding:
        if name not in (None, "offline-demo"):
            raise RpcError(ErrorBody(code=ErrorCode.NOT_FOUND, message=f"model {name!r} not found"))
        return binding

    return OpenAIModelCaller(resolve)


@pytest.fixture
def no_models() -> OpenAIModelCaller:
    """Model calls where no model can be resolved (any LLM use fails)."""

    async def resolve(name: str | None) -> ModelBinding:
        raise RpcError(ErrorBody(code=ErrorCode.UNAVAILABLE, message="no models service"))

    return OpenAIModelCaller(resolve)


def node_of(document: dict[str, Any]) -> Node:
    """A flowchart node from its JSON form."""
    return msgspec.convert(document, Node)  # type: ignore[arg-type]


def context_of(
    node_id: str,
    *,
    run_id: str = "run-1",
    execution_index: int = 0,
    upstream: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An input context shaped like the orchestrator's (one upstream output)."""
    latest = None if upstream is None else {"node_id": "up", "output": upstream}
    return {
        "run": {"id": run_id, "flowchart_id": "fc-1", "flowchart_version": 1, "input": {}},
        "node": {"id": node_id, "execution_index": execution_index, "node_run_id": "nr"},
        "upstream_nodes": [] if latest is None else [latest],
        "latest_upstream": latest,
        "dotted_upstream_nodes": {},
    }


@pytest.fixture(name="node_of")
def node_of_fixture() -> Any:
    """:func:`node_of` for tests."""
    return node_of


@pytest.fixture(name="context_of")
def context_of_fixture() -> Any:
    """:func:`context_of` for tests."""
    return context_of


def chain(name: str, **task: Any) -> dict[str, Any]:
    """start -> task ``t`` -> end; no executor runs in this stack, so ``t`` stays in flight
    (or fails when it has a short ``timeout_seconds``)."""
    return {
        "name": name,
        "nodes": [
            {"type": "start", "id": "s"},
            {"type": "task", "id": "t", "prompt": "p", **task},
            {"type": "end", "id": "e"},
        ],
        "connectors": [
            {"id": "c1", "source": "s", "target": "t"},
            {"id": "c2", "source": "t", "target": "e"},
        ],
    }


@dataclass
class ToolhubStack:
    """The services, a started bus and a tool client on it."""

    services: ServiceProcesses
    bus: Bus
    client: ToolClient
    mcp_url: str
    chain = staticmethod(chain)

    async def call(self, tool: str, arguments: dict[str, Any], **extra: Any) -> ToolCallResult:
        request = msgspec.convert({"tool": tool, "arguments": arguments, **extra}, ToolCallRequest)
        return await self.client.invoke(request)

    async def create_flowchart(self, document: dict[str, Any]) -> str:
        definition = msgspec.convert(document, FlowchartDefinition)
        record = await call(
            self.bus,
            subjects.rpc("orchestrator", "flowchart.create"),
            CreateFlowchart(definition=definition),
            FlowchartRecord,
        )
        return record.id

    async def start_run(self, document: dict[str, Any]) -> RunRecord:
        flowchart_id = await self.create_flowchart(document)
        return await call(
            self.bus,
            subjects.rpc("orchestrator", "run.start"),
            StartRun(flowchart_id=flowchart_id),
            RunRecord,
        )

    async def run(self, run_id: str) -> RunRecord:
        return await call(
            self.bus, subjects.rpc("orchestrator", "run.get"), GetById(id=run_id), RunRecord
        )

    async def wait_status(self, run_id: str, *statuses: str, timeout: float = 60) -> RunRecord:
        async def reached() -> bool:
            return (await self.run(run_id)).status in statuses

        await async_wait_until(reached, timeout=timeout, what=f"run {run_id} {statuses}")
        return await self.run(run_id)

    async def failed_run(self) -> RunRecord:
        """A run whose task node timed out (nobody executes it), failing the run."""
        run = await self.start_run(chain("fails", timeout_seconds=0.5))
        return await self.wait_status(run.id, "failed")


@pytest.fixture(scope="module")
async def stack(
    tmp_path_factory: pytest.TempPathFactory, postgres_admin_url: str
) -> AsyncIterator[ToolhubStack]:
    root = tmp_path_factory.mktemp("toolhub")
    nats = NatsServer(root / "nats", log_path=root / "nats.log")
    nats.start()
    database_url = create_database(postgres_admin_url, unique_database_name("toolhub"))
    mcp_port = free_port()
    services = ServiceProcesses(
        ["orchestrator", "router", "models", "toolhub"],
        nats_url=nats.url,
        database_url=database_url,
        log_dir=root,
        extra_env={"LLMCTL_NODE_TIMEOUT_GRACE_SECONDS": "0", MCP_PORT_ENV: str(mcp_port)},
    )
    bus = Bus(nats.url, service="toolhub-tests")
    try:
        await asyncio.to_thread(services.start_all)
        await bus.start()
        yield ToolhubStack(
            services=services,
            bus=bus,
            client=ToolClient(bus, timeout=30),
            mcp_url=f"http://127.0.0.1:{mcp_port}/mcp",
        )
    finally:
        await bus.stop()
        services.stop_all()
        nats.stop()
