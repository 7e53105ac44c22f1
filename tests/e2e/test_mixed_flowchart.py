"""The release example end to end: task, decision, plan, memory and milestone nodes on the
local stack, with deterministic outputs and one artifact per node run through the API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the fixture's type; conftest is not importable under importlib mode
    from conftest import E2EStack

RELEASE = Path(__file__).resolve().parents[2] / "examples" / "flowcharts" / "release.json"


async def test_release_flowchart_mixes_task_decision_and_special_nodes(e2e: E2EStack) -> None:
    flowchart: dict[str, Any] = json.loads(RELEASE.read_text())
    flowchart_id = await e2e.create_flowchart(flowchart)
    run = await e2e.start_run(flowchart_id, request="ship the 2.0 release")
    frames = await e2e.follow(run["id"])
    assert frames[-1]["event_type"] == "run.succeeded"
    finished = await e2e.run(run["id"])
    assert finished["outcome"]["reason"] == "terminated"  # the milestone ended the run
    await e2e.assert_rebuilds(run["id"])  # projections, state and one artifact per node run

    node_runs = {n["node_id"]: n for n in await e2e.node_runs(run["id"])}
    assert set(node_runs) == {"start", "triage", "route", "plan", "remember", "recall", "gate"}
    assert {n["status"] for n in node_runs.values()} == {"succeeded"}
    assert node_runs["triage"]["output"]["route_key"] == "plan"  # the demo model's first enum
    assert node_runs["route"]["routing_state"]["matched_connector_ids"] == ["to-plan"]

    plan = node_runs["plan"]["output"]["artifact"]["plan"]
    assert [s["name"] for s in plan["stages"]] == ["Build", "Ship"]
    assert [t["name"] for t in plan["stages"][0]["tasks"]] == ["Compile", "Test"]
    written = node_runs["remember"]["output"]["artifact"]["written"]
    assert [m["content"] for m in written] == ["ship the 2.0 release"]
    recalled = node_runs["recall"]["output"]["memories"]
    assert [m["id"] for m in recalled] == [written[0]["id"]]
    gate = node_runs["gate"]
    assert gate["output"]["terminate_run"] is True
    assert gate["routing_state"]["route_key"] == "planned"
    milestone = gate["output"]["artifact"]["milestone"]
    assert (milestone["status"], milestone["owner"]) == ("completed", "release-bot")

    artifacts = (await e2e.http.get(f"/api/v1/runs/{run['id']}/artifacts")).json()["data"]
    kinds = {a["node_id"]: a["kind"] for a in artifacts}
    assert kinds == {
        "start": "run_input",
        "triage": "task_result",
        "route": "decision_evaluation",
        "plan": "plan_state",
        "remember": "memory_records",
        "recall": "memory_records",
        "gate": "milestone_state",
    }
    by_node = {a["node_id"]: a for a in artifacts}
    assert by_node["plan"]["content"]["detail"]["state"]["plan"]["id"] == plan["id"]
    assert by_node["gate"]["content"]["detail"]["state"]["milestone"]["status"] == "completed"

    # a second run of the same flowchart recalls both requests (memory scope: the flowchart)
    second = await e2e.start_run(flowchart_id, request="ship the 2.1 release")
    await e2e.wait_terminal(second["id"])
    again = {n["node_id"]: n for n in await e2e.node_runs(second["id"])}
    assert len(again["recall"]["output"]["memories"]) == 2
