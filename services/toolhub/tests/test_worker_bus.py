"""The toolhub service over the real bus: ``ExecuteNode`` on ``llmctl.cmd.exec.toolhub`` in,
``NodeExecuted`` out; redelivery writes nothing twice; fallback through the models service."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import nats
import pytest
import sqlalchemy as sa
from nats.aio.client import Client as NatsClient
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from llmctl_contracts import (
    MessageKind,
    MessageType,
    decode_envelope,
    decode_payload,
    encode,
    subjects,
)
from llmctl_contracts.commands import ExecuteNode
from llmctl_contracts.events import NodeExecuted
from llmctl_infra.embedded import NatsServer
from llmctl_infra.testing import (
    DemoLLMHandle,
    ServiceProcesses,
    async_wait_until,
    create_database,
    demo_llm_server,
    unique_database_name,
)
from llmctl_libs.messages import Trace, make_envelope


@dataclass
class ToolhubStack:
    """Toolhub and the models service as processes, a NATS client, the database, the model."""

    services: ServiceProcesses
    nc: NatsClient
    db: AsyncEngine
    llm: DemoLLMHandle

    async def execute(
        self, node: dict[str, Any], *, node_run_id: str | None = None, **context: Any
    ) -> tuple[str, int]:
        """Publish one ``ExecuteNode`` command; return its run id and stream sequence."""
        run_id = f"run-{uuid.uuid4().hex[:8]}"
        node_run_id = node_run_id or f"nr-{uuid.uuid4().hex[:8]}"
        command = msgspec.convert(
            {
                "node_run_id": node_run_id,
                "attempt": 1,
                "node": node,
                "input_context": {
                    "run": {"id": run_id, "flowchart_id": "fc"},
                    "node": {"id": node["id"], "execution_index": 0},
                    "upstream_nodes": [],
                    "latest_upstream": None,
                    **context,
                },
                "timeout_seconds": 60,
            },
            ExecuteNode,
        )
        return run_id, await self.publish(
            command, run_id, msg_id=f"execute:{node_run_id}:attempt:1"
        )

    async def publish(self, command: ExecuteNode, run_id: str, *, msg_id: str) -> int:
        key = f"execute:{command.node_run_id}:attempt:{command.attempt}"
        envelope = make_envelope(
            MessageType.EXECUTE_NODE,
            command,
            trace=Trace(correlation_id=f"corr-{run_id}"),
            idempotency_key=key,
            kind=MessageKind.COMMAND,
            run_id=run_id,
            node_run_id=command.node_run_id,
        )
        ack = await self.nc.jetstream().publish(
            subjects.execute_command("toolhub"), encode(envelope), headers={"Nats-Msg-Id": msg_id}
        )
        return int(ack.seq)

    async def reports(self, run_id: str, count: int = 1) -> list[NodeExecuted]:
        """The first ``count`` reports published for ``run_id``."""
        sub = await self.nc.jetstream().subscribe(
            subjects.exec_event(run_id), ordered_consumer=True
        )
        try:
            found = []
            for _ in range(count):
                msg = await sub.next_msg(timeout=60)
                found.append(decode_payload(decode_envelope(msg.data), NodeExecuted))
            return found
        finally:
            await sub.unsubscribe()

    async def report(self, run_id: str) -> NodeExecuted:
        return (await self.reports(run_id))[0]

    async def processed(self, sequence: int) -> bool:
        """Whether toolhub acknowledged the command at stream ``sequence``."""
        info = await self.nc.jetstream().consumer_info(subjects.CMD_STREAM, "toolhub")
        return info.ack_floor.stream_seq >= sequence and info.num_ack_pending == 0

    async def scalar(self, query: str, **params: Any) -> Any:
        async with self.db.connect() as conn:
            return (await conn.execute(sa.text(query), params)).scalar_one()


@pytest.fixture(scope="module")
async def stack(
    tmp_path_factory: pytest.TempPathFactory, postgres_admin_url: str
) -> AsyncIterator[ToolhubStack]:
    root: Path = tmp_path_factory.mktemp("toolhub-bus")
    server = NatsServer(root / "nats", log_path=root / "nats.log")
    server.start()
    try:
        database_url = create_database(postgres_admin_url, unique_database_name("thbus"))
        async with demo_llm_server() as llm:
            services = ServiceProcesses(
                ["toolhub", "models"],
                nats_url=server.url,
                database_url=database_url,
                log_dir=root / "logs",
                demo_llm_url=llm.base_url,
            )
            await asyncio.to_thread(services.start_all)
            nc = await nats.connect(server.url)
            db = create_async_engine(database_url)
            try:
                yield ToolhubStack(services=services, nc=nc, db=db, llm=llm)
            finally:
                await db.dispose()
                await nc.close()
                await asyncio.to_thread(services.stop_all)
    finally:
        server.stop()


async def test_memory_node_is_executed_and_reported(stack: ToolhubStack) -> None:
    scope = f"bus-{uuid.uuid4().hex[:8]}"
    node = {
        "type": "memory",
        "id": "remember",
        "action": "add",
        "config": {"scope": scope, "text": "hello"},
    }
    run_id, _ = await stack.execute(node)
    report = await stack.report(run_id)
    assert (report.succeeded, report.warnings, report.worker_id) == (True, [], "toolhub")
    assert report.output["artifact"]["written"][0]["content"] == "hello"
    stored = await stack.scalar("SELECT count(*) FROM toolhub.memories WHERE scope = :s", s=scope)
    assert stored == 1


async def test_redelivered_command_writes_nothing_twice(stack: ToolhubStack) -> None:
    scope = f"bus-{uuid.uuid4().hex[:8]}"
    node = {
        "type": "memory",
        "id": "remember",
        "action": "add",
        "config": {"scope": scope, "text": "once"},
    }
    node_run_id = f"nr-{uuid.uuid4().hex[:8]}"
    run_id, first_seq = await stack.execute(node, node_run_id=node_run_id)
    [first] = await stack.reports(run_id)
    await async_wait_until(
        lambda: stack.processed(first_seq), timeout=30, what="first delivery acked"
    )
    calls = await stack.scalar(
        "SELECT count(*) FROM toolhub.tool_results WHERE idempotency_key LIKE :k",
        k=f"{node_run_id}:1:%",
    )
    assert calls >= 1

    # The same command again (as JetStream redelivers it after a crash before the ack).
    command = msgspec.convert(
        {
            "node_run_id": node_run_id,
            "attempt": 1,
            "node": node,
            "input_context": {
                "run": {"id": run_id, "flowchart_id": "fc"},
                "node": {"id": "remember"},
            },
            "timeout_seconds": 60,
        },
        ExecuteNode,
    )
    again_seq = await stack.publish(command, run_id, msg_id=f"redelivery-{node_run_id}")
    await async_wait_until(lambda: stack.processed(again_seq), timeout=30, what="redelivery acked")
    assert (
        await stack.scalar("SELECT count(*) FROM toolhub.memories WHERE scope = :s", s=scope) == 1
    )
    assert (
        await stack.scalar(
            "SELECT count(*) FROM toolhub.tool_results WHERE idempotency_key LIKE :k",
            k=f"{node_run_id}:1:%",
        )
        == calls
    )
    assert first.output["memory_id"] == await stack.scalar(
        "SELECT id FROM toolhub.memories WHERE scope = :s", s=scope
    )


async def test_conflict_falls_back_through_the_models_service(stack: ToolhubStack) -> None:
    before = stack.llm.stats.completions
    node = {
        "type": "plan",
        "id": "planner",
        "config": {
            "store_mode": "update",
            "patch": {"stages": [{"name": "Ghost", "status": "completed"}]},
        },
    }
    run_id, _ = await stack.execute(node)
    report = await stack.report(run_id)
    assert report.succeeded, report.error
    assert report.output["fallback_used"] is True
    assert "no stage 'Ghost'" in report.output["fallback_reason"]
    assert len(report.warnings) == 1
    assert stack.llm.stats.completions == before + 1
    body = stack.llm.stats.bodies[-1]
    assert body["model"] == "offline-demo"  # the default model the models service resolved
    assert body["response_format"]["json_schema"]["name"] == "special_node_fallback"


async def test_fallback_disabled_fails_with_the_tool_error(stack: ToolhubStack) -> None:
    node = {
        "type": "plan",
        "id": "planner",
        "config": {
            "tool_fallback_mode": "disabled",
            "patch": {"stages": [{"name": "Ghost", "status": "completed"}]},
        },
    }
    run_id, _ = await stack.execute(node)
    report = await stack.report(run_id)
    assert not report.succeeded
    assert report.error is not None
    assert (report.error.code, report.error.details[0].field) == ("conflict", "patch.stages[0]")
    assert report.warnings == []


async def test_unknown_fallback_model_fails_the_node(stack: ToolhubStack) -> None:
    node = {
        "type": "milestone",
        "id": "ms",
        "milestone_id": "no-such-milestone",
        "action": "mark_complete",
        "config": {"model": "no-such-model"},
    }
    run_id, _ = await stack.execute(node)
    report = await stack.report(run_id)
    assert report.error is not None
    assert report.error.code == "not_found"
    assert "no-such-model" in report.error.message


async def test_bad_config_is_reported_with_its_field(stack: ToolhubStack) -> None:
    node = {"type": "memory", "id": "m", "config": {"retention_mode": "sometimes"}}
    run_id, _ = await stack.execute(node)
    report = await stack.report(run_id)
    assert report.error is not None
    assert (report.error.code, report.error.details[0].field) == (
        "validation_failed",
        "config.retention_mode",
    )


async def test_rag_nodes_are_unavailable(stack: ToolhubStack) -> None:
    run_id, _ = await stack.execute({"type": "rag", "id": "search"})
    report = await stack.report(run_id)
    assert report.error is not None
    assert report.error.code == "unavailable"
    assert "rag" in report.error.message
