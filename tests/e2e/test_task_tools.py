"""Task nodes calling toolhub tools (function calling) through the public API: allowlist,
unknown tools, the audit trail in the artifact, and a crash of the executor between a tool call
and the model's next turn (the journal resumes the loop; nothing runs twice)."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conftest import E2EStack


def agent_flowchart(name: str, prompt: str, allowlist: list[str], **task: Any) -> dict[str, Any]:
    return {
        "name": name,
        "nodes": [
            {"type": "start", "id": "start"},
            {
                "type": "task",
                "id": "agent",
                "prompt": prompt,
                "tool_allowlist": allowlist,
                **task,
            },
            {"type": "end", "id": "end"},
        ],
        "connectors": [
            {"id": "in", "source": "start", "target": "agent"},
            {"id": "out", "source": "agent", "target": "end"},
        ],
    }


async def agent_artifact(e2e: E2EStack, run_id: str) -> dict[str, Any]:
    listed = (await e2e.http.get(f"/api/v1/runs/{run_id}/artifacts")).json()["data"]
    [agent] = [a for a in listed if a["node_id"] == "agent"]
    return dict(agent["content"])


def tool_results(text: str) -> list[Any]:
    """The tool results the demo model's text answer lists."""
    return list(json.loads(text.split("Tool results: ", 1)[1]))


async def test_agent_calls_allowed_tools_and_is_refused_the_others(e2e: E2EStack) -> None:
    prompt = (
        "Remember the release and list what you remember.\n"
        '[demo:call] memory_create {"content": "release 2.0 shipped", "scope": "agent-e2e"}\n'
        '[demo:call] memory_list {"scope": "agent-e2e"}\n'
        '[demo:call] workflow_cancel {"run_id": "any"}'
    )
    flowchart = agent_flowchart("agent-tools", prompt, ["memory_create", "memory_list"])
    run = await e2e.start_run(await e2e.create_flowchart(flowchart))
    finished = await e2e.wait_terminal(run["id"])
    assert finished["status"] == "succeeded", finished
    await e2e.assert_rebuilds(run["id"])

    artifact = await agent_artifact(e2e, run["id"])
    detail = artifact["detail"]
    assert detail["tool_rounds"] == 3
    assert [(c["index"], c["tool"], c["status"]) for c in detail["tool_calls"]] == [
        (0, "memory_create", "success"),
        (1, "memory_list", "success"),
        (2, "workflow_cancel", "error"),
    ]
    created, listed, refused = tool_results(artifact["output"]["text"])
    assert created["output"]["content"] == "release 2.0 shipped"
    assert [m["id"] for m in listed["output"]["items"]] == [created["output"]["id"]]
    assert refused["error"]["code"] == "forbidden"  # the allowlist holds whatever the model asks
    # only the allowed tools were offered to the model
    offered = {t["function"]["name"] for t in e2e.llm.stats.calls_of("openai")[-1].body["tools"]}
    assert offered == {"memory_create", "memory_list"}


async def test_unknown_tool_in_the_allowlist_fails_the_node_naming_it(e2e: E2EStack) -> None:
    flowchart = agent_flowchart("agent-unknown-tool", "Work.", ["memory_list", "no_such_tool"])
    run = await e2e.start_run(await e2e.create_flowchart(flowchart))
    finished = await e2e.wait_terminal(run["id"])
    assert finished["status"] == "failed"
    [agent] = [n for n in await e2e.node_runs(run["id"]) if n["node_id"] == "agent"]
    error = agent["error"]
    assert error["code"] == "validation_failed"
    assert [d["field"] for d in error["details"]] == ["tool_allowlist[1]"]
    assert "no_such_tool" in error["details"][0]["reason"]


async def test_executor_killed_between_a_tool_call_and_the_next_turn(
    e2e_private: E2EStack,
) -> None:
    """The redelivered attempt rebuilds the conversation from the tool journal: the memory is
    created once, and the model is not asked to start over."""
    e2e = e2e_private
    prompt = (
        "Remember, then list.\n"
        '[demo:call] memory_create {"content": "written once", "scope": "crash-e2e"}\n'
        '[demo:call] memory_list {"scope": "crash-e2e"}'
    )
    flowchart = agent_flowchart("agent-crash", prompt, ["memory_create", "memory_list"])
    e2e.gate.holds = lambda body: any(m.get("role") == "tool" for m in body.get("messages", []))
    e2e.gate.open.clear()
    run = await e2e.start_run(await e2e.create_flowchart(flowchart))
    # memory_create has run and the model's next turn is in flight: kill the executor there
    await asyncio.wait_for(e2e.gate.arrived.wait(), 60)
    e2e.services.kill("executor-frontier")
    e2e.gate.open.set()
    await asyncio.to_thread(e2e.services.start, "executor-frontier")

    finished = await e2e.wait_terminal(run["id"])
    assert finished["status"] == "succeeded", finished
    artifact = await agent_artifact(e2e, run["id"])
    calls = artifact["detail"]["tool_calls"]
    assert [(c["index"], c["tool"], c["replayed"]) for c in calls] == [
        (0, "memory_create", True),  # from the journal, not called again
        (1, "memory_list", False),
    ]
    created, listed = tool_results(artifact["output"]["text"])
    assert [m["content"] for m in listed["output"]["items"]] == ["written once"]
    assert listed["output"]["items"][0]["id"] == created["output"]["id"]
    bodies = [c.body for c in e2e.llm.stats.calls_of("openai")]
    first_turns = [b for b in bodies if not any(m.get("role") == "tool" for m in b["messages"])]
    assert len(first_turns) == 1  # the restarted attempt resumed; it did not start over
    [agent] = [n for n in await e2e.node_runs(run["id"]) if n["node_id"] == "agent"]
    assert agent["attempt"] == 1
