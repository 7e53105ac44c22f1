"""A running toolhub with the orchestrator and router as processes, on a private NATS and a
fresh database; a bus client calling toolhub's tools."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest

from llmctl_contracts import subjects
from llmctl_contracts.flowchart import FlowchartDefinition
from llmctl_contracts.rpc import CreateFlowchart, FlowchartRecord, GetById, RunRecord, StartRun
from llmctl_contracts.tools import ToolCallRequest, ToolCallResult
from llmctl_infra.embedded import NatsServer
from llmctl_infra.ports import free_port
from llmctl_infra.testing import (
    ServiceProcesses,
    async_wait_until,
    create_database,
    unique_database_name,
)
from llmctl_libs.bus import Bus
from llmctl_libs.rpc import call
from llmctl_libs.tools import ToolClient
from llmctl_toolhub.tooling import MCP_PORT_ENV


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
        ["orchestrator", "router", "toolhub"],
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
