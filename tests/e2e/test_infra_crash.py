"""Nothing lost, nothing twice when Postgres or nats-server is SIGKILLed mid-run."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import TYPE_CHECKING, Any

from llmctl_infra.bench.workloads import noop_chain
from llmctl_infra.embedded import NatsServer, PostgresServer

if TYPE_CHECKING:
    from conftest import E2EStack

Infra = tuple["E2EStack", NatsServer, PostgresServer]


async def _assert_each_node_once(e2e: E2EStack, run_id: str, nodes: int) -> None:
    finished = await e2e.wait_terminal(run_id, timeout=180)
    assert finished["status"] == "succeeded", finished
    counts = Counter(n["node_id"] for n in await e2e.node_runs(run_id))
    assert len(counts) == nodes
    assert set(counts.values()) == {1}
    events = await e2e.events(run_id)
    assert [e["sequence"] for e in events] == list(range(1, len(events) + 1))
    routed = Counter(e["payload"]["node_id"] for e in events if e["type"] == "node.routed")
    assert set(routed.values()) == {1}


async def test_postgres_killed_mid_chain(e2e_private_infra: Infra) -> None:
    e2e, _, postgres = e2e_private_infra
    run = await e2e.start_run(await e2e.create_flowchart(noop_chain(40)))
    await e2e.follow(
        run["id"], until=lambda f: f["sequence"] >= 20 or f["event_type"].startswith("run.")
    )
    await asyncio.to_thread(postgres.kill)
    await asyncio.to_thread(postgres.restart)
    await _assert_each_node_once(e2e, run["id"], nodes=42)


async def test_nats_killed_while_a_task_runs(
    e2e_private_infra: Infra, hello: dict[str, Any]
) -> None:
    e2e, nats_server, _ = e2e_private_infra
    flowchart_id = await e2e.create_flowchart(hello)
    e2e.gate.open.clear()
    run = await e2e.start_run(flowchart_id)
    await asyncio.wait_for(e2e.gate.arrived.wait(), 60)
    await asyncio.to_thread(nats_server.kill)
    e2e.gate.open.set()  # the executor finishes while the bus is down
    await asyncio.to_thread(nats_server.restart)
    await _assert_each_node_once(e2e, run["id"], nodes=5)
    # the model may be asked again when a report could not be published: at least once
    assert e2e.llm.stats.completions >= 2
