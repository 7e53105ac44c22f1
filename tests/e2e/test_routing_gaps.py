"""Routing and context paths through the public API that the scenario tests leave out: dotted
connectors feeding a node's context, free-text conditions decided by the marked heuristic, and
a condition that cannot be evaluated at run time. Every run is rebuilt from its events."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from llmctl_infra.test_flowcharts import ALWAYS, decision, edges, runs_of

if TYPE_CHECKING:
    from conftest import E2EStack


def _dotted_chart() -> dict[str, Any]:
    """start -> a -> check, which sends the run back to ``a`` once and then on to b -> c (end).

    b reads a over a dotted connector (and routes on it); c reads a and ``never`` (a task whose
    only solid connector never fires) over dotted ones.
    """
    index = "node.execution_index"
    return {
        "name": "dotted",
        "nodes": [
            {"type": "start", "id": "start"},
            decision("a", ("a-check", ALWAYS), fan_in={"mode": "any"}),
            decision(
                "check",
                ("again", {"op": "lt", "path": index, "value": 1}),
                ("done", {"op": "gte", "path": index, "value": 1}),
            ),
            decision(
                "b",
                ("b-c", {"op": "exists", "path": "dotted_upstream_nodes.a.output.topic"}),
                ("b-never", {"op": "eq", "path": "run.input.topic", "value": "never"}),
            ),
            {"type": "task", "id": "never", "prompt": "never runs"},
            {"type": "end", "id": "c"},
        ],
        "connectors": [
            *edges(
                ("in", "start", "a"),
                ("a-check", "a", "check"),
                ("again", "check", "a"),
                ("done", "check", "b"),
                ("b-c", "b", "c"),
                ("b-never", "b", "never"),
            ),
            *edges(("a-b", "a", "b"), ("a-c", "a", "c"), ("never-c", "never", "c"), kind="dotted"),
        ],
        "limits": {"max_node_executions": 20},
    }


async def test_dotted_connectors_feed_the_latest_output_without_triggering(
    e2e: E2EStack,
) -> None:
    run = await e2e.finish(_dotted_chart(), topic="dotted")
    assert (run["status"], run["outcome"]["reason"]) == ("succeeded", "terminated")
    node_runs = await e2e.node_runs(run["id"])
    assert Counter(n["node_id"] for n in node_runs) == Counter(
        {"start": 1, "a": 2, "check": 2, "b": 1, "c": 1}
    )
    first_a, latest_a = runs_of(node_runs, "a")
    [_, last_check] = runs_of(node_runs, "check")
    [b] = runs_of(node_runs, "b")
    [c] = runs_of(node_runs, "c")

    # b holds a's latest output (a ran twice before b), keyed by the source node
    assert b["input_context"]["dotted_upstream_nodes"] == {
        "a": {"node_run_id": latest_a["id"], "connector_id": "a-b", "output": latest_a["output"]}
    }
    assert latest_a["output"] == {"topic": "dotted"}
    assert first_a["id"] != latest_a["id"]
    assert b["routing_state"]["matched_connector_ids"] == ["b-c"]  # routed on the dotted value

    # b was triggered by its solid parent only: one activation, consuming check's token
    consumed = [(u["node_id"], u["node_run_id"]) for u in b["input_context"]["upstream_nodes"]]
    assert consumed == [("check", last_check["id"])]
    queued_b = [
        e
        for e in await e2e.events(run["id"])
        if e["type"] == "node.queued" and e["payload"]["node_id"] == "b"
    ]
    assert [e["payload"]["consumed_connector_ids"] for e in queued_b] == [["done"]]

    # a node that never ran has no entry; the dotted source that did run still has one
    assert c["input_context"]["dotted_upstream_nodes"] == {
        "a": {"node_run_id": latest_a["id"], "connector_id": "a-c", "output": latest_a["output"]}
    }


def _triage(text: str, **no_match: Any) -> dict[str, Any]:
    """start -> triage (a decision: a free-text condition and a predicate) -> escalate | routine
    (end nodes)."""
    return {
        "name": "triage",
        "nodes": [
            {"type": "start", "id": "start"},
            {
                "type": "decision",
                "id": "triage",
                "conditions": [
                    {"connector_id": "to-escalate", "text": text},
                    {
                        "connector_id": "to-routine",
                        "predicate": {"op": "eq", "path": "run.input.tier", "value": "gold"},
                    },
                ],
                **no_match,
            },
            {"type": "end", "id": "escalate"},
            {"type": "end", "id": "routine"},
        ],
        "connectors": edges(
            ("in", "start", "triage"),
            ("to-escalate", "triage", "escalate"),
            ("to-routine", "triage", "routine"),
        ),
    }


TICKET = {"message": "the customer sounds urgent about billing", "tier": "silver"}


async def test_free_text_condition_matches_through_the_marked_heuristic(e2e: E2EStack) -> None:
    run = await e2e.finish(_triage("sounds urgent"), **TICKET)
    assert (run["status"], run["outcome"]["reason"]) == ("succeeded", "terminated")
    node_runs = await e2e.node_runs(run["id"])
    assert {n["node_id"] for n in node_runs} == {"start", "triage", "escalate"}
    [triage] = runs_of(node_runs, "triage")
    assert triage["status"] == "succeeded_with_warning"
    routing = triage["routing_state"]
    assert (routing["fallback_used"], routing["no_match"]) == (True, False)
    assert routing["matched_connector_ids"] == ["to-escalate"]
    methods = {e["connector_id"]: (e["method"], e["matched"]) for e in routing["evaluations"]}
    assert methods == {"to-escalate": ("heuristic", True), "to-routine": ("predicate", False)}

    # the websocket delivers the decision's completion and its routing with the warning mark
    frames = await e2e.follow(run["id"])
    assert frames[-1]["event_type"] == "run.succeeded"
    mine = [f for f in frames if f["node_run_id"] == triage["id"]]
    assert [f["event_type"] for f in mine] == ["node.queued", "node.succeeded", "node.routed"]
    succeeded, routed = mine[1]["data"], mine[2]["data"]
    assert (succeeded["node_id"], succeeded["output"]) == ("triage", TICKET)
    assert routed["routing_state"] == routing


async def test_free_text_condition_without_a_match_takes_the_fallback(e2e: E2EStack) -> None:
    policy = {"no_match_policy": "fallback", "fallback_connector_id": "to-routine"}
    run = await e2e.finish(_triage("needs a manager", **policy), **TICKET)
    assert (run["status"], run["outcome"]["reason"]) == ("succeeded", "terminated")
    node_runs = await e2e.node_runs(run["id"])
    assert {n["node_id"] for n in node_runs} == {"start", "triage", "routine"}
    [triage] = runs_of(node_runs, "triage")
    assert triage["status"] == "succeeded_with_warning"
    routing = triage["routing_state"]
    assert (routing["no_match"], routing["fallback_used"]) == (True, True)
    assert routing["matched_connector_ids"] == ["to-routine"]
    assert [(e["connector_id"], e["method"], e["matched"]) for e in routing["evaluations"]] == [
        ("to-escalate", "heuristic", False),
        ("to-routine", "predicate", False),
        ("to-routine", "fallback", True),
    ]


async def test_condition_that_cannot_be_evaluated_fails_the_run(e2e: E2EStack) -> None:
    """``gt`` between the string input and a number raises while routing: the run fails naming
    the connector, and nothing downstream runs, not even the target of a condition that
    matched before the bad one was evaluated."""
    flowchart = {
        "name": "bad-condition",
        "nodes": [
            {"type": "start", "id": "start"},
            decision(
                "check",
                ("to-small", {"op": "eq", "path": "run.input.kind", "value": "small"}),
                ("to-big", {"op": "gt", "path": "run.input.x", "value": 5}),
            ),
            {"type": "end", "id": "small"},
            {"type": "end", "id": "big"},
        ],
        "connectors": edges(
            ("in", "start", "check"), ("to-small", "check", "small"), ("to-big", "check", "big")
        ),
    }
    run = await e2e.finish(flowchart, kind="small", x="abc")
    assert run["status"] == "failed"
    assert run["error"]["code"] == "validation_failed"
    assert "to-big" in run["error"]["message"]
    assert [d["field"] for d in run["error"]["details"]] == ["conditions[to-big]"]
    node_runs = await e2e.node_runs(run["id"])
    assert {n["node_id"] for n in node_runs} == {"start", "check"}
    [check] = runs_of(node_runs, "check")
    assert check["routing_state"]["matched_connector_ids"] == []
    assert (check["status"], check["error"]) == ("failed", run["error"])  # the node fails too

    frames = await e2e.follow(run["id"])
    assert [f["event_type"] for f in frames[-3:]] == ["node.routed", "node.failed", "run.failed"]
    assert frames[-2]["node_run_id"] == check["id"]
    assert frames[-2]["data"]["error"] == run["error"]
    failed = frames[-1]["data"]
    assert failed["failed_node_run_id"] == check["id"]
    assert failed["error"] == run["error"]
    queued = [f["data"]["node_id"] for f in frames if f["event_type"] == "node.queued"]
    assert queued == ["start", "check"]
