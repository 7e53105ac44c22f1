"""Nothing lost, nothing twice: SIGKILL the router or the orchestrator during a fan-out/fan-in.

One flowchart serves both tests::

    start ─┬─ b01 .. b08 ─────────────┐            (pass-through decisions)
           ├─ b09 ─ b09x, b10 ─ b10x ─┤            (two-node branches)
           ├─ t11 ────────────────────┤            (task: a demo-model call)
           └─ t12 ─ t12x ─────────────┴─ join1 ─┬─ c1 .. c4 ─┬─ join2 ─ end
                                        (all 12) └─ skipped ──┘  (custom 4 of 5)

``join1`` never fires its connector to ``skipped``, so ``join2`` (``custom`` 4 of its 5 parents)
activates exactly once, from c1..c4. The two task branches wait inside their model calls (the
demo model's gate) until the test lets them go: whatever the timing of a kill, the fan-out has
then routed some but not all of its branches, and ``join1`` is still collecting tokens.

Every node but ``skipped`` must run exactly once: one node run, one ``node.queued``, one
``node.succeeded``, one ``node.routed``; each join consumes one token of each parent; the model
is called once per task; and on the wire (JetStream) every router decision, executor report and
run event exists once.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

import nats

from llmctl_contracts import subjects

if TYPE_CHECKING:
    from conftest import E2EStack

Frame = dict[str, Any]

ALWAYS = {"op": "exists", "path": "run.id"}
NEVER = {"op": "eq", "path": "run.id", "value": "no such run"}
TERMINAL = ("run.succeeded", "run.failed", "run.cancelled")
NODE_STEPS = ("node.queued", "node.dispatched", "node.succeeded", "node.routed")
FAILURES = ("run.failed", "run.cancelled", "node.failed", "node.cancelled")

SINGLE = [f"b{i:02d}" for i in range(1, 9)]
CHAINS = {"b09": "b09x", "b10": "b10x"}
TASKS = ["t11", "t12"]
FAN_OUT = [*SINGLE, *CHAINS, *TASKS]  # the 12 children of start
# the last node of each branch that needs no model call: they route whatever the gate does
DECISION_TAILS = [*SINGLE, *CHAINS.values()]
JOIN1_PARENTS = [*DECISION_TAILS, "t11", "t12x"]
LEVEL2 = ["c1", "c2", "c3", "c4"]


def _connector_id(source: str, target: str) -> str:
    return f"{source}.{target}"


def fan_out_fan_in() -> dict[str, Any]:
    """The flowchart drawn in the module docstring."""
    nodes: list[dict[str, Any]] = [{"type": "start", "id": "start"}]
    edges: list[tuple[str, str]] = []
    for branch in FAN_OUT:
        edges.append(("start", branch))
        if branch in TASKS:
            nodes.append({"type": "task", "id": branch, "prompt": f"Report on branch {branch}."})
        else:
            nodes.append({"type": "decision", "id": branch})
    for head, tail in [*CHAINS.items(), ("t12", "t12x")]:
        nodes.append({"type": "decision", "id": tail})
        edges.append((head, tail))
    nodes.append({"type": "decision", "id": "join1", "fan_in": {"mode": "all"}})
    edges += [(parent, "join1") for parent in JOIN1_PARENTS]
    for node_id in [*LEVEL2, "skipped"]:
        nodes.append({"type": "decision", "id": node_id})
        edges += [("join1", node_id), (node_id, "join2")]
    nodes.append({"type": "decision", "id": "join2", "fan_in": {"mode": "custom", "count": 4}})
    nodes.append({"type": "end", "id": "end"})
    edges.append(("join2", "end"))
    connectors = [
        {"id": _connector_id(source, target), "source": source, "target": target}
        for source, target in edges
    ]
    for node in nodes:
        if node["type"] == "decision":
            node["conditions"] = [
                {
                    "connector_id": _connector_id(node["id"], target),
                    "predicate": NEVER if target == "skipped" else ALWAYS,
                }
                for source, target in edges
                if source == node["id"]
            ]
    return {
        "name": "crash-fan-out-fan-in",
        "nodes": nodes,
        "connectors": connectors,
        "limits": {"max_node_executions": 100},
        "defaults": {"timeout_seconds": 120},
    }


EXPECTED_NODES = [n["id"] for n in fan_out_fan_in()["nodes"] if n["id"] != "skipped"]


def reached(event_type: str, node_ids: Collection[str], count: int) -> Callable[[Frame], bool]:
    """``follow`` predicate: ``event_type`` seen for ``count`` of ``node_ids``, or the run ended."""
    seen: set[str] = set()

    def until(frame: Frame) -> bool:
        if frame["event_type"] in TERMINAL:
            return True
        if frame["event_type"] == event_type and frame["data"]["node_id"] in node_ids:
            seen.add(frame["data"]["node_id"])
        return len(seen) >= count

    return until


def nodes_with(frames: list[Frame], event_type: str) -> set[str]:
    return {f["data"]["node_id"] for f in frames if f["event_type"] == event_type}


def assert_running(frames: list[Frame]) -> None:
    ended = [f for f in frames if f["event_type"] in TERMINAL]
    assert not ended, f"the run ended before the kill: {ended}"


async def read_stream(
    e2e: E2EStack, subject: str, done: Callable[[list[dict[str, Any]], int], bool]
) -> list[dict[str, Any]]:
    """Envelopes JetStream holds on ``subject``, oldest first, read until ``done(read, pending)``
    (``pending``: messages stored after the last one read)."""
    nc = await nats.connect(e2e.services.endpoints.nats_url)
    try:
        sub = await nc.jetstream().subscribe(subject, ordered_consumer=True)
        envelopes: list[dict[str, Any]] = []
        while True:
            msg = await sub.next_msg(timeout=60)
            envelopes.append(json.loads(msg.data))
            if done(envelopes, msg.metadata.num_pending):
                return envelopes
    finally:
        await nc.close()


async def stored(e2e: E2EStack, subject: str, *, at_least: int) -> list[dict[str, Any]]:
    """Every envelope JetStream holds on ``subject``, once it holds at least ``at_least``."""
    return await read_stream(
        e2e, subject, lambda read, pending: len(read) >= at_least and pending == 0
    )


async def assert_each_node_once(e2e: E2EStack, run_id: str) -> None:
    finished = await e2e.wait_terminal(run_id)
    assert finished["status"] == "succeeded", finished
    assert finished["node_executions"] == len(EXPECTED_NODES)

    node_runs = await e2e.node_runs(run_id)
    assert Counter(n["node_id"] for n in node_runs) == Counter(EXPECTED_NODES)  # no `skipped`
    assert {n["status"] for n in node_runs} == {"succeeded"}, node_runs
    assert {n["execution_index"] for n in node_runs} == {0}
    assert [n["attempt"] for n in node_runs if n["node_id"] in TASKS] == [1, 1]
    node_run_of = {n["node_id"]: n["id"] for n in node_runs}

    events = await e2e.events(run_id)
    assert [e["sequence"] for e in events] == list(range(1, len(events) + 1))
    types = Counter(e["type"] for e in events)
    assert types["run.created"] == types["run.started"] == types["run.succeeded"] == 1
    assert not any(types[failure] for failure in FAILURES), types
    assert events[-1]["type"] == "run.succeeded"
    outcome = events[-1]["payload"]
    assert outcome["reason"] == "terminated"
    assert outcome["unconsumed_tokens"] == []
    assert outcome["node_executions"] == len(EXPECTED_NODES)

    per_node = Counter(
        (e["type"], e["payload"]["node_id"]) for e in events if e["type"] in NODE_STEPS
    )
    expected = Counter(
        {
            (event_type, node_id): 1
            for node_id in EXPECTED_NODES
            for event_type in NODE_STEPS
            if event_type != "node.dispatched"  # inline nodes are not dispatched
        }
    )
    expected.update(("node.dispatched", task) for task in TASKS)
    assert per_node == expected
    for event in events:
        if event["type"] in NODE_STEPS:
            assert event["payload"]["node_run_id"] == node_run_of[event["payload"]["node_id"]]

    queued = {e["payload"]["node_id"]: e["payload"] for e in events if e["type"] == "node.queued"}
    # each join consumed exactly one token of each parent that fired
    assert sorted(queued["join1"]["consumed_connector_ids"]) == sorted(
        _connector_id(parent, "join1") for parent in JOIN1_PARENTS
    )
    assert sorted(queued["join2"]["consumed_connector_ids"]) == sorted(
        _connector_id(parent, "join2") for parent in LEVEL2
    )

    # exactly one model call per task, none repeated across the kills
    assert e2e.llm.stats.requests == len(TASKS)
    assert e2e.llm.stats.completions == len(TASKS)

    # on the wire: one executor report per task, one router decision per node run, and each
    # run event published once (a republish after a crash is dropped by the server)
    reports = await stored(e2e, subjects.exec_event(run_id), at_least=len(TASKS))
    assert sorted(r["node_run_id"] for r in reports) == sorted(node_run_of[t] for t in TASKS)
    decisions = await stored(e2e, subjects.route_event(run_id), at_least=len(EXPECTED_NODES))
    assert Counter(d["node_run_id"] for d in decisions) == Counter(node_run_of.values())
    timeline = await stored(e2e, subjects.run_events(run_id), at_least=len(events))
    # (a row republished after a crash may land after later events: compare as sets)
    assert sorted(t["sequence"] for t in timeline) == list(range(1, len(events) + 1))
    assert {t["event_id"] for t in timeline} == {e["event_id"] for e in events}
    await e2e.assert_rebuilds(run_id)


async def test_router_killed_mid_fan_out(e2e_private: E2EStack) -> None:
    """The router dies while it decides the fan-out's branches; the rest wait for its restart.

    The kill is triggered by the router's own decisions on the wire (the run timeline trails
    them by the orchestrator's fold), so it usually lands among the branches' decisions; the
    gated task branches guarantee that some are still to come whatever the timing.
    """
    e2e = e2e_private
    flowchart_id = await e2e.create_flowchart(fan_out_fan_in())
    e2e.gate.open.clear()  # the task branches wait inside their model calls
    run_id = (await e2e.start_run(flowchart_id))["id"]

    def fan_out_decided(read: list[dict[str, Any]], pending: int) -> bool:
        return sum(d["payload"]["node_id"] in FAN_OUT for d in read) >= 2

    decided = await read_stream(e2e, subjects.route_event(run_id), fan_out_decided)
    pid = e2e.services.pid("router")
    e2e.services.kill("router")
    assert {d["payload"]["node_id"] for d in decided}.isdisjoint(TASKS)

    e2e.gate.open.set()
    # both task results are recorded while the router is down: their route commands wait
    frames = await e2e.follow(run_id, until=reached("node.succeeded", TASKS, len(TASKS)))
    assert_running(frames)
    assert not nodes_with(frames, "node.routed") & set(TASKS)
    await asyncio.to_thread(e2e.services.start, "router")
    assert e2e.services.pid("router") != pid

    await assert_each_node_once(e2e, run_id)


async def test_orchestrator_killed_mid_fan_out_and_while_the_join_collects(
    e2e_private: E2EStack,
) -> None:
    """Kill 1 lands while branches are being routed, kill 2 while task results reach the join.

    Messages a killed orchestrator had taken but not acknowledged come back after the
    consumers' ack wait (30 s); both kills fall inside one such wait to keep the test short.
    """
    e2e = e2e_private
    flowchart_id = await e2e.create_flowchart(fan_out_fan_in())
    e2e.gate.open.clear()
    run_id = (await e2e.start_run(flowchart_id))["id"]
    pids = [e2e.services.pid("orchestrator")]

    # kill 1: a few branches are routed, the others' decisions are in flight
    frames = await e2e.follow(run_id, until=reached("node.routed", FAN_OUT, 3))
    assert_running(frames)
    e2e.services.kill("orchestrator")
    await asyncio.to_thread(e2e.services.start, "orchestrator")
    pids.append(e2e.services.pid("orchestrator"))

    # kill 2: join1 waits for the task branches (at least); the first task result is out and
    # the orchestrator is folding it in
    e2e.gate.open.set()
    await stored(e2e, subjects.exec_event(run_id), at_least=1)
    e2e.services.kill("orchestrator")
    await stored(e2e, subjects.exec_event(run_id), at_least=len(TASKS))
    await asyncio.to_thread(e2e.services.start, "orchestrator")
    pids.append(e2e.services.pid("orchestrator"))
    assert len(set(pids)) == 3

    await assert_each_node_once(e2e, run_id)
