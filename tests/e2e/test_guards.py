"""Run guards: max parallel nodes holds dispatches; max node executions stops a loop."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conftest import E2EStack


def fan_out(width: int, max_parallel: int) -> dict[str, Any]:
    tasks = [f"t{i}" for i in range(width)]
    return {
        "name": "fan-out",
        "limits": {"max_parallel_nodes": max_parallel},
        "nodes": [
            {"type": "start", "id": "start"},
            *({"type": "task", "id": t, "prompt": f"say {t}"} for t in tasks),
            {"type": "end", "id": "end"},
        ],
        "connectors": [
            *({"id": f"s-{t}", "source": "start", "target": t} for t in tasks),
            *({"id": f"{t}-e", "source": t, "target": "end"} for t in tasks),
        ],
    }


async def test_max_parallel_nodes_holds_extra_dispatches(e2e_private: E2EStack) -> None:
    e2e = e2e_private
    e2e.gate.open.clear()
    run = await e2e.start_run(await e2e.create_flowchart(fan_out(width=4, max_parallel=2)))
    async with asyncio.timeout(60):
        while not any(n["status"] == "dispatched" for n in await e2e.node_runs(run["id"])):
            await asyncio.sleep(0.05)
    # all four were activated in one transaction: what is dispatched now is all that will be
    statuses = Counter(
        n["status"] for n in await e2e.node_runs(run["id"]) if n["node_type"] == "task"
    )
    assert statuses == Counter({"dispatched": 2, "queued": 2})
    e2e.gate.open.set()
    finished = await e2e.wait_terminal(run["id"])
    assert finished["status"] == "succeeded"
    events = await e2e.events(run["id"])
    in_flight, peak = 0, 0
    for event in events:
        if event["type"] == "node.dispatched":
            in_flight += 1
            peak = max(peak, in_flight)
        elif event["type"] == "node.succeeded" and event["payload"]["node_id"].startswith("t"):
            in_flight -= 1
    assert peak == 2
    assert e2e.llm.stats.completions == 4
    end = [n for n in await e2e.node_runs(run["id"]) if n["node_id"] == "end"]
    assert len(end) == 1  # fan-in `all` joined the four branches once
    await e2e.assert_rebuilds(run["id"])


async def test_max_node_executions_fails_a_runaway_loop(e2e: E2EStack) -> None:
    always = {"op": "exists", "path": "run.id"}
    loop = {
        "name": "loop",
        "limits": {"max_node_executions": 12},
        "nodes": [
            {"type": "start", "id": "start"},
            {
                "type": "decision",
                "id": "spin",
                "fan_in": {"mode": "any"},
                "conditions": [{"connector_id": "again", "predicate": always}],
            },
        ],
        "connectors": [
            {"id": "in", "source": "start", "target": "spin"},
            {"id": "again", "source": "spin", "target": "spin"},
        ],
    }
    run = await e2e.start_run(await e2e.create_flowchart(loop))
    finished = await e2e.wait_terminal(run["id"])
    assert finished["status"] == "failed"
    assert "max node executions" in finished["error"]["message"]
    assert finished["node_executions"] == 12
    node_runs = await e2e.node_runs(run["id"])
    indexes = sorted(n["execution_index"] for n in node_runs if n["node_id"] == "spin")
    assert indexes == list(range(11))
    # the guard fails the run; the node run whose routing hit it succeeded and stays so
    assert {n["status"] for n in node_runs} == {"succeeded"}
    await e2e.assert_rebuilds(run["id"])


async def test_max_runtime_fails_the_run_and_stops_its_work(
    e2e_private: E2EStack, hello: dict[str, Any]
) -> None:
    e2e = e2e_private
    e2e.gate.open.clear()  # classify never answers
    limited = {**hello, "limits": {**hello["limits"], "max_runtime_seconds": 2}}
    run = await e2e.start_run(await e2e.create_flowchart(limited))
    finished = await e2e.wait_terminal(run["id"], timeout=60)
    assert finished["status"] == "failed"
    assert finished["error"]["code"] == "timeout"
    assert "max runtime" in finished["error"]["message"]
    classify = next(n for n in await e2e.node_runs(run["id"]) if n["node_id"] == "classify")
    assert classify["status"] == "cancelled"
    failed = [e for e in await e2e.events(run["id"]) if e["type"] == "run.failed"]
    assert len(failed) == 1
    report = await e2e.first_executor_report(run["id"])  # the executor abandoned the call
    assert report["payload"]["error"]["code"] == "cancelled"
    e2e.gate.open.set()
    await e2e.assert_rebuilds(run["id"])
