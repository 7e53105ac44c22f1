"""Special nodes through the public API: a milestone loop ends the run by its loop rule, memory
and plan nodes write toolhub state, a plan conflict falls back to the model with a warning and a
disabled fallback fails the run."""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmctl_infra.test_flowcharts import edges, runs_of

if TYPE_CHECKING:
    from conftest import E2EStack


async def test_milestone_loop_exit_terminates_the_run(e2e: E2EStack) -> None:
    flowchart = {
        "name": "milestone-loop",
        "nodes": [
            {"type": "start", "id": "start"},
            {
                "type": "memory",
                "id": "note",
                "action": "add",
                "fan_in": {"mode": "any"},
                "config": {"mode": "deterministic", "text_source_path": "node.execution_index"},
            },
            {
                "type": "milestone",
                "id": "gate",
                "title": "Loop gate",
                "config": {
                    "loop_exit_after_runs": 3,
                    "loop_checkpoint_every": 2,
                    "route_key_on_terminate": "released",
                    "patch": {"latest_update": "iterating"},
                },
            },
        ],
        "connectors": edges(
            ("in", "start", "note"), ("n-g", "note", "gate"), ("again", "gate", "note")
        ),
        "limits": {"max_node_executions": 20},
    }
    run = await e2e.finish(flowchart)
    assert (run["status"], run["outcome"]["reason"]) == ("succeeded", "terminated")
    node_runs = await e2e.node_runs(run["id"])
    gates = runs_of(node_runs, "gate")
    assert [g["output"]["terminate_run"] for g in gates] == [False, False, True]
    assert [g["output"]["checkpoint"] for g in gates] == [False, True, False]
    assert gates[-1]["routing_state"]["terminate_run"] is True
    assert gates[-1]["routing_state"]["route_key"] == "released"
    milestone = gates[-1]["output"]["artifact"]["milestone"]
    assert (milestone["name"], milestone["latest_update"], milestone["version"]) == (
        "Loop gate",
        "iterating",
        1,  # created once, later runs had nothing new to write
    )
    notes = runs_of(node_runs, "note")
    assert [n["output"]["memories"][0]["content"] for n in notes] == ["0", "1", "2"]
    assert {n["status"] for n in notes + gates} == {"succeeded"}
    # each node run's final domain state is its artifact
    artifacts = (await e2e.http.get(f"/api/v1/runs/{run['id']}/artifacts")).json()["data"]
    by_node_run = {a["node_run_id"]: a for a in artifacts}
    for gate in gates:
        artifact = by_node_run[gate["id"]]
        assert artifact["kind"] == "milestone_state"
        assert artifact["content"]["detail"]["state"] == gate["output"]["artifact"]
    assert {by_node_run[n["id"]]["kind"] for n in notes} == {"memory_records"}
    assert by_node_run[notes[2]["id"]]["content"]["detail"]["state"]["written"][0]["content"] == "2"


async def test_plan_conflict_falls_back_with_a_warning(e2e: E2EStack) -> None:
    completions = e2e.llm.stats.completions
    flowchart = {
        "name": "plan-fallback",
        "nodes": [
            {"type": "start", "id": "start"},
            {
                "type": "plan",
                "id": "plan",
                "config": {
                    "store_mode": "update",
                    "tool_fallback_mode": "conflict_only",
                    "patch": {"tasks": [{"name": "Ghost", "status": "completed"}]},
                },
            },
            {"type": "end", "id": "end"},
        ],
        "connectors": edges(("s-p", "start", "plan"), ("p-e", "plan", "end")),
    }
    run = await e2e.finish(flowchart)
    assert run["status"] == "succeeded"
    [plan] = runs_of(await e2e.node_runs(run["id"]), "plan")
    assert plan["status"] == "succeeded_with_warning"
    assert plan["output"]["fallback_used"] is True
    assert "Ghost" in plan["output"]["fallback_reason"]
    artifact = (await e2e.http.get(f"/api/v1/runs/{run['id']}/artifacts/{plan['id']}")).json()
    assert artifact["data"]["kind"] == "plan_state"
    assert artifact["data"]["status"] == "succeeded_with_warning"
    assert artifact["data"]["content"]["detail"]["fallback_used"] is True
    assert e2e.llm.stats.completions == completions + 1
    [succeeded] = [
        e
        for e in await e2e.events(run["id"])
        if e["type"] == "node.succeeded" and e["payload"]["node_run_id"] == plan["id"]
    ]
    assert succeeded["payload"]["warnings"]


async def test_disabled_fallback_fails_the_run_with_the_tool_error(e2e: E2EStack) -> None:
    flowchart = {
        "name": "plan-no-fallback",
        "nodes": [
            {"type": "start", "id": "start"},
            {
                "type": "milestone",
                "id": "finish",
                "milestone_id": "never-created",
                "action": "mark_complete",
                "config": {"tool_fallback_mode": "disabled"},
            },
            {"type": "end", "id": "end"},
        ],
        "connectors": edges(("s-f", "start", "finish"), ("f-e", "finish", "end")),
    }
    run = await e2e.finish(flowchart)
    assert run["status"] == "failed"
    [finish] = runs_of(await e2e.node_runs(run["id"]), "finish")
    assert finish["status"] == "failed"
    assert finish["error"]["code"] == "not_found"
    assert "never-created" in finish["error"]["message"]


async def test_bad_special_node_config_is_refused_at_save(e2e: E2EStack) -> None:
    response = await e2e.http.post(
        "/api/v1/flowcharts",
        json={
            "name": "bad-config",
            "nodes": [
                {"type": "start", "id": "start"},
                {"type": "memory", "id": "m", "config": {"limit": 500}},
            ],
            "connectors": edges(("s-m", "start", "m")),
        },
    )
    assert response.status_code == 422, response.text
    [detail] = response.json()["error"]["details"]
    assert detail["field"] == "$.nodes[1].config.limit"
