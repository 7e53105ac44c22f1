"""Milestone nodes: create_or_update, mark_complete, checkpoints, loop exit, terminate rules."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from llmctl_contracts.special_nodes import MilestoneNodeConfig
from llmctl_libs.tools import NodeRunTools
from llmctl_toolhub.nodes.execute import execute_special_node
from llmctl_toolhub.nodes.llm import OpenAIModelCaller
from llmctl_toolhub.nodes.milestone import loop_rules


def _node(
    milestone_id: str | None, action: str = "create_or_update", **config: Any
) -> dict[str, Any]:
    node: dict[str, Any] = {
        "type": "milestone",
        "id": "ms",
        "title": "Beta",
        "action": action,
        "config": config,
    }
    if milestone_id is not None:
        node["milestone_id"] = milestone_id
    return node


async def test_create_or_update_creates_then_updates(
    tools: NodeRunTools, no_models: OpenAIModelCaller, node_of: Any, context_of: Any
) -> None:
    milestone_id = f"ms-{uuid.uuid4().hex[:8]}"
    node = node_of(_node(milestone_id, patch_source_path="latest_upstream.output.milestone"))
    first = await execute_special_node(
        node,
        context_of("ms", upstream={"milestone": {"progress_percent": 30, "owner": "ana"}}),
        tools,
        no_models,
    )
    assert first.succeeded, first.error
    state = first.output["artifact"]["milestone"]
    assert (state["name"], state["progress_percent"], state["owner"], state["version"]) == (
        "Beta",
        30,
        "ana",
        1,
    )
    second = await execute_special_node(
        node,
        context_of("ms", execution_index=1, upstream={"milestone": {"progress_percent": 60}}),
        tools,
        no_models,
    )
    assert second.output["artifact"]["milestone"]["progress_percent"] == 60
    assert second.output["artifact"]["milestone"]["version"] == 2
    assert (second.output["completed"], second.output["terminate_run"]) == (False, False)
    unchanged = await execute_special_node(
        node,
        context_of("ms", execution_index=2, upstream={"milestone": {"progress_percent": 60}}),
        tools,
        no_models,
    )
    assert unchanged.output["artifact"]["milestone"]["version"] == 2  # nothing to write


async def test_completion_source_completes_and_terminates(
    tools: NodeRunTools, no_models: OpenAIModelCaller, node_of: Any, context_of: Any
) -> None:
    milestone_id = f"ms-{uuid.uuid4().hex[:8]}"
    node = node_of(
        _node(
            milestone_id,
            completion_source_path="latest_upstream.output.done",
            terminate_on_complete=True,
            route_key_on_terminate="finished",
            route_key_on_complete="unused",
        )
    )
    pending = await execute_special_node(
        node, context_of("ms", upstream={"done": False}), tools, no_models
    )
    assert (pending.output["terminate_run"], pending.output["route_key"]) == (False, None)
    done = await execute_special_node(
        node, context_of("ms", execution_index=1, upstream={"done": True}), tools, no_models
    )
    output = done.output
    assert (output["completed"], output["terminate_run"], output["route_key"]) == (
        True,
        True,
        "finished",
    )
    assert output["terminate_reason"] == "milestone completed"
    stored = await tools("milestone_get", {"id": milestone_id})
    assert (stored["status"], stored["progress_percent"]) == ("completed", 100)


async def test_mark_complete_needs_an_existing_milestone(
    tools: NodeRunTools, no_models: OpenAIModelCaller, node_of: Any, context_of: Any
) -> None:
    node = node_of(_node("no-such-ms", action="mark_complete", tool_fallback_mode="disabled"))
    result = await execute_special_node(node, context_of("ms"), tools, no_models)
    assert result.error is not None
    assert (result.error.code, result.error.details[0].field) == ("not_found", "arguments.id")


async def test_mark_complete_routes_on_complete(
    tools: NodeRunTools, no_models: OpenAIModelCaller, node_of: Any, context_of: Any
) -> None:
    created = await tools("milestone_create", {"name": "GA", "progress_percent": 80})
    node = node_of(_node(created["id"], action="mark_complete", route_key_on_complete="ga_done"))
    result = await execute_special_node(node, context_of("ms"), tools, no_models)
    assert (
        result.output["completed"],
        result.output["terminate_run"],
        result.output["route_key"],
    ) == (
        True,
        False,
        "ga_done",
    )
    assert (await tools("milestone_get", {"id": created["id"]}))["status"] == "completed"


@pytest.mark.parametrize(
    ("config", "runs", "checkpoints", "terminations"),
    [
        ({"loop_checkpoint_every": 2}, 4, [2, 4], []),
        ({"loop_checkpoint_every": 2, "terminate_on_checkpoint": True}, 4, [2, 4], [2, 4]),
        ({"loop_exit_after_runs": 3}, 4, [], [3, 4]),
        ({"terminate_always": True}, 2, [], [1, 2]),
        ({}, 3, [], []),
    ],
)
def test_loop_rules(
    config: dict[str, Any], runs: int, checkpoints: list[int], terminations: list[int]
) -> None:
    parsed = MilestoneNodeConfig(**config)
    results = [loop_rules(parsed, completed=False, run_count=n) for n in range(1, runs + 1)]
    assert [r["run_count"] for r in results if r["checkpoint"]] == checkpoints
    assert [r["run_count"] for r in results if r["terminate_run"]] == terminations


async def test_loop_exit_uses_the_execution_index(
    tools: NodeRunTools, no_models: OpenAIModelCaller, node_of: Any, context_of: Any
) -> None:
    node = node_of(_node(None, loop_exit_after_runs=2, route_key_on_terminate="exit"))
    run_id = f"run-{uuid.uuid4().hex[:8]}"
    first = await execute_special_node(node, context_of("ms", run_id=run_id), tools, no_models)
    second = await execute_special_node(
        node, context_of("ms", run_id=run_id, execution_index=1), tools, no_models
    )
    assert (first.output["terminate_run"], first.output["run_count"]) == (False, 1)
    assert (
        second.output["terminate_run"],
        second.output["run_count"],
        second.output["route_key"],
    ) == (
        True,
        2,
        "exit",
    )
    assert first.output["milestone_id"] == second.output["milestone_id"]


async def test_fallback_keeps_the_loop_rules(
    tools: NodeRunTools, models: OpenAIModelCaller, node_of: Any, context_of: Any
) -> None:
    node = node_of(
        _node(
            "no-such-ms",
            action="mark_complete",
            terminate_on_complete=True,
            route_key_on_terminate="stop",
        )
    )
    result = await execute_special_node(node, context_of("ms"), tools, models)
    assert result.succeeded, result.error
    output = result.output
    assert (output["fallback_used"], output["terminate_run"], output["route_key"]) == (
        True,
        True,
        "stop",
    )
    assert output["fallback_reason"].startswith("tool failed (not_found)")
    assert output["artifact"] is None  # no milestone state was ever read
    assert result.warnings


async def test_bad_patch_config_is_refused(
    tools: NodeRunTools, no_models: OpenAIModelCaller, node_of: Any, context_of: Any
) -> None:
    node = node_of(_node(None, patch={"health": "blue"}))
    result = await execute_special_node(node, context_of("ms"), tools, no_models)
    assert result.error is not None
    assert result.error.details[0].field == "config.patch.health"
