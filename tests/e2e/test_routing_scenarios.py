"""Execution scenarios through the public API: fan-in policies, multi-match, fallback, no-match,
terminate_run and loops; every run's projections are rebuilt from its events and compared."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from llmctl_infra.test_flowcharts import ALWAYS, decision, edges, runs_of, task

if TYPE_CHECKING:
    from conftest import E2EStack


def _join(policy: dict[str, Any]) -> dict[str, Any]:
    """start -> a, b, c (pass-through decisions) -> j (task with fan-in ``policy``)."""
    return {
        "name": f"join-{policy['mode']}",
        "nodes": [
            {"type": "start", "id": "start"},
            decision("a", ("aj", ALWAYS)),
            decision("b", ("bj", ALWAYS)),
            decision("c", ("cj", ALWAYS)),
            task("j", fan_in=policy),
        ],
        "connectors": edges(
            ("sa", "start", "a"),
            ("sb", "start", "b"),
            ("sc", "start", "c"),
            ("aj", "a", "j"),
            ("bj", "b", "j"),
            ("cj", "c", "j"),
        ),
    }


async def test_fan_in_any_activates_once_per_token(e2e: E2EStack) -> None:
    run = await e2e.finish(_join({"mode": "any"}))
    assert (run["status"], run["outcome"]["reason"]) == ("succeeded", "quiescent")
    joins = runs_of(await e2e.node_runs(run["id"]), "j")
    assert [j["execution_index"] for j in joins] == [0, 1, 2]
    sources = [[u["node_id"] for u in j["input_context"]["upstream_nodes"]] for j in joins]
    assert sorted(s for [s] in sources) == ["a", "b", "c"]  # one token each


async def test_fan_in_all_joins_every_parent_once(e2e: E2EStack) -> None:
    run = await e2e.finish(_join({"mode": "all"}))
    [join] = runs_of(await e2e.node_runs(run["id"]), "j")
    upstream = join["input_context"]["upstream_nodes"]
    assert sorted(u["node_id"] for u in upstream) == ["a", "b", "c"]
    assert run["outcome"]["unconsumed_tokens"] == []


async def test_fan_in_custom_n_leaves_the_latest_token_unconsumed(e2e: E2EStack) -> None:
    run = await e2e.finish(_join({"mode": "custom", "count": 2}))
    node_runs = await e2e.node_runs(run["id"])
    [join] = runs_of(node_runs, "j")
    consumed = {u["node_id"] for u in join["input_context"]["upstream_nodes"]}
    [left] = run["outcome"]["unconsumed_tokens"]
    assert left["target_node_id"] == "j"
    assert len(consumed) == 2
    assert {left["connector_id"][0]} | consumed == {"a", "b", "c"}


def _router(no_match: dict[str, Any]) -> dict[str, Any]:
    """start -> route (decision) -> red | big | blue | other (tasks)."""
    color = "latest_upstream.output.color"
    return {
        "name": "router",
        "nodes": [
            {"type": "start", "id": "start"},
            decision(
                "route",
                ("to-red", {"op": "eq", "path": color, "value": "red"}),
                ("to-big", {"op": "gte", "path": "latest_upstream.output.size", "value": 3}),
                ("to-blue", {"op": "eq", "path": color, "value": "blue"}),
                ("to-other", {"op": "eq", "path": color, "value": "never"}),
                **no_match,
            ),
            task("red"),
            task("big"),
            task("blue"),
            task("other"),
        ],
        "connectors": edges(
            ("in", "start", "route"),
            ("to-red", "route", "red"),
            ("to-big", "route", "big"),
            ("to-blue", "route", "blue"),
            ("to-other", "route", "other"),
        ),
    }


def _routing(node_runs: list[dict[str, Any]]) -> dict[str, Any]:
    [route] = runs_of(node_runs, "route")
    state: dict[str, Any] = route["routing_state"]
    return state


async def test_decision_fires_every_matching_connector(e2e: E2EStack) -> None:
    run = await e2e.finish(_router({}), color="red", size=5)
    assert run["status"] == "succeeded"
    node_runs = await e2e.node_runs(run["id"])
    assert Counter(n["node_id"] for n in node_runs) == Counter(
        {"start": 1, "route": 1, "red": 1, "big": 1}
    )
    routing = _routing(node_runs)
    assert routing["matched_connector_ids"] == ["to-red", "to-big"]
    evaluations = {e["connector_id"]: e["matched"] for e in routing["evaluations"]}
    assert evaluations == {"to-red": True, "to-big": True, "to-blue": False, "to-other": False}


async def test_no_match_takes_the_fallback_connector(e2e: E2EStack) -> None:
    policy = {"no_match_policy": "fallback", "fallback_connector_id": "to-other"}
    run = await e2e.finish(_router(policy), color="green", size=1)
    assert run["status"] == "succeeded"
    node_runs = await e2e.node_runs(run["id"])
    assert {n["node_id"] for n in node_runs} == {"start", "route", "other"}
    routing = _routing(node_runs)
    assert (routing["no_match"], routing["matched_connector_ids"]) == (True, ["to-other"])


async def test_no_match_without_fallback_fails_the_run(e2e: E2EStack) -> None:
    run = await e2e.finish(_router({}), color="green", size=1)
    assert run["status"] == "failed"
    node_runs = await e2e.node_runs(run["id"])
    assert {n["node_id"] for n in node_runs} == {"start", "route"}
    assert _routing(node_runs)["no_match"] is True
    [route] = runs_of(node_runs, "route")
    assert (route["status"], route["error"]["code"]) == ("failed", "conflict")
    events = await e2e.events(run["id"])
    [node_failed] = [e for e in events if e["type"] == "node.failed"]
    assert node_failed["payload"]["node_run_id"] == route["id"]
    [failed] = [e for e in events if e["type"] == "run.failed"]
    assert failed["payload"]["failed_node_run_id"] == route["id"]


async def test_terminate_run_ends_the_run_and_cancels_work_in_flight(e2e: E2EStack) -> None:
    flowchart = {
        "name": "terminate",
        "nodes": [
            {"type": "start", "id": "start"},
            task("slow"),
            {"type": "end", "id": "end", "fan_in": {"mode": "any"}},
        ],
        "connectors": edges(("s-end", "start", "end"), ("s-slow", "start", "slow")),
    }
    e2e.gate.open.clear()
    try:
        run = await e2e.finish(flowchart)
    finally:
        e2e.gate.open.set()
    assert (run["status"], run["outcome"]["reason"]) == ("succeeded", "terminated")
    node_runs = await e2e.node_runs(run["id"])
    [slow] = runs_of(node_runs, "slow")
    assert slow["status"] == "cancelled"
    [succeeded] = [e for e in await e2e.events(run["id"]) if e["type"] == "run.succeeded"]
    assert succeeded["payload"]["cancelled_node_run_ids"] == [slow["id"]]


async def test_loop_runs_until_its_exit_condition(e2e: E2EStack) -> None:
    index = "node.execution_index"
    flowchart = {
        "name": "loop",
        "nodes": [
            {"type": "start", "id": "start"},
            decision("body", ("to-check", ALWAYS), fan_in={"mode": "any"}),
            decision(
                "check",
                ("again", {"op": "lt", "path": index, "value": 3}),
                ("done", {"op": "gte", "path": index, "value": 3}),
            ),
            {"type": "end", "id": "end"},
        ],
        "connectors": edges(
            ("in", "start", "body"),
            ("to-check", "body", "check"),
            ("again", "check", "body"),
            ("done", "check", "end"),
        ),
        "limits": {"max_node_executions": 20},
    }
    run = await e2e.finish(flowchart)
    assert (run["status"], run["outcome"]["reason"]) == ("succeeded", "terminated")
    node_runs = await e2e.node_runs(run["id"])
    assert [n["execution_index"] for n in runs_of(node_runs, "body")] == [0, 1, 2, 3]
    assert [n["execution_index"] for n in runs_of(node_runs, "check")] == [0, 1, 2, 3]
    assert run["node_executions"] == 10  # start + 4 x (body, check) + end
