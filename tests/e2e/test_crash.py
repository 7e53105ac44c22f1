"""Nothing lost, nothing twice: SIGKILL the orchestrator in the middle of runs."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import TYPE_CHECKING, Any

from llmctl_infra.bench.workloads import noop_chain

if TYPE_CHECKING:
    from conftest import E2EStack


async def test_orchestrator_killed_while_a_task_runs(
    e2e_private: E2EStack, hello: dict[str, Any]
) -> None:
    """The executor's report arrives while the orchestrator is dead; a restart finishes the run."""
    e2e = e2e_private
    flowchart_id = await e2e.create_flowchart(hello)
    e2e.gate.open.clear()
    run = await e2e.start_run(flowchart_id, user="Ada")
    await asyncio.wait_for(e2e.gate.arrived.wait(), 60)  # classify is inside the model call
    pid = e2e.services.pid("orchestrator")
    e2e.services.kill("orchestrator")
    e2e.gate.open.set()  # the executor reports into JetStream with nobody consuming
    await asyncio.to_thread(e2e.services.start, "orchestrator")
    assert e2e.services.pid("orchestrator") != pid

    finished = await e2e.wait_terminal(run["id"])
    assert finished["status"] == "succeeded"
    node_runs = await e2e.node_runs(run["id"])
    assert Counter(n["node_id"] for n in node_runs) == Counter(
        {"start": 1, "classify": 1, "route": 1, "greet": 1, "end": 1}
    )
    assert e2e.llm.stats.completions == 2  # classify and greet, each exactly once
    events = await e2e.events(run["id"])
    assert [e["sequence"] for e in events] == list(range(1, len(events) + 1))
    per_node = Counter((e["type"], e["payload"].get("node_id")) for e in events)
    assert all(count == 1 for count in per_node.values()), per_node


async def test_orchestrator_killed_repeatedly_during_a_long_chain(e2e_private: E2EStack) -> None:
    """Kills land between arbitrary steps of many short transactions; every node runs once."""
    e2e = e2e_private
    flowchart_id = await e2e.create_flowchart(noop_chain(60))
    run = await e2e.start_run(flowchart_id)
    killed_at: list[int] = []
    for threshold in (15, 45, 90):
        frames = await e2e.follow(
            run["id"],
            until=lambda f, t=threshold: f["sequence"] >= t or f["event_type"].startswith("run."),
        )
        if frames[-1]["event_type"] in ("run.succeeded", "run.failed"):
            break
        e2e.services.kill("orchestrator")
        killed_at.append(frames[-1]["sequence"])
        await asyncio.to_thread(e2e.services.start, "orchestrator")
    assert killed_at, "the run ended before the orchestrator could be killed"

    finished = await e2e.wait_terminal(run["id"])
    assert finished["status"] == "succeeded"
    node_runs = await e2e.node_runs(run["id"])
    counts = Counter(n["node_id"] for n in node_runs)
    assert len(counts) == 62  # start + 60 + end
    assert set(counts.values()) == {1}
    assert finished["node_executions"] == 62
    events = await e2e.events(run["id"])
    assert [e["sequence"] for e in events] == list(range(1, len(events) + 1))
    routed = Counter(e["payload"]["node_id"] for e in events if e["type"] == "node.routed")
    assert set(routed.values()) == {1}
