"""Plan nodes: append / replace / update with stage and task matching, completion route key,
conflicting state with and without fallback."""

from __future__ import annotations

import uuid
from typing import Any

from llmctl_libs.tools import NodeRunTools
from llmctl_toolhub.nodes.execute import execute_special_node
from llmctl_toolhub.nodes.llm import OpenAIModelCaller

SEED = {
    "name": "Launch",
    "stages": [
        {"id": "s-design", "name": "Design", "tasks": [{"id": "t-sketch", "name": "Sketch"}]},
        {"id": "s-build", "name": "Build", "tasks": [{"id": "t-api", "name": "API"}]},
    ],
}


async def _seeded(tools: NodeRunTools) -> str:
    plan_id = f"plan-{uuid.uuid4().hex[:8]}"
    await tools("plan_create", {**SEED, "id": plan_id})
    return plan_id


def _plan_node(plan_id: str | None, **config: Any) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "plan", "id": "planner", "title": "Run plan", "config": config}
    if plan_id is not None:
        node["plan_id"] = plan_id
    return node


def _shape(plan: dict[str, Any]) -> list[tuple[str, str, list[tuple[str, str]]]]:
    return [
        (s["name"], s["status"], [(t["name"], t["status"]) for t in s["tasks"]])
        for s in plan["stages"]
    ]


async def test_update_matches_stages_and_tasks_by_id_or_name(
    tools: NodeRunTools, no_models: OpenAIModelCaller, node_of: Any, context_of: Any
) -> None:
    plan_id = await _seeded(tools)
    patch = {
        "stages": [
            {
                "name": "design",
                "status": "completed",
                "tasks": [{"name": "SKETCH", "status": "completed"}],
            },
            {"id": "s-build", "status": "in_progress"},
        ],
        "tasks": [{"name": "api", "status": "in_progress"}],
    }
    node = node_of(_plan_node(plan_id, store_mode="update", patch=patch))
    result = await execute_special_node(node, context_of("planner"), tools, no_models)
    assert result.succeeded, result.error
    stored = await tools("plan_get", {"id": plan_id})
    assert _shape(stored) == [
        ("Design", "completed", [("Sketch", "completed")]),
        ("Build", "in_progress", [("API", "in_progress")]),
    ]
    assert stored["version"] == 2
    artifact = result.output["artifact"]["plan"]
    assert (artifact["id"], artifact["version"], artifact["completed"]) == (plan_id, 2, False)
    assert result.output["route_key"] is None


async def test_update_completing_every_stage_completes_the_plan(
    tools: NodeRunTools, no_models: OpenAIModelCaller, node_of: Any, context_of: Any
) -> None:
    plan_id = await _seeded(tools)
    patch = {
        "stages": [
            {"id": "s-design", "status": "completed"},
            {"id": "s-build", "status": "skipped"},
        ]
    }
    node = node_of(_plan_node(plan_id, patch=patch, route_key_on_complete="plan_done"))
    result = await execute_special_node(node, context_of("planner"), tools, no_models)
    assert (result.output["completed"], result.output["route_key"]) == (True, "plan_done")
    assert (await tools("plan_get", {"id": plan_id}))["completed"] is True


async def test_append_adds_stages_and_tasks_without_duplicates(
    tools: NodeRunTools, no_models: OpenAIModelCaller, node_of: Any, context_of: Any
) -> None:
    plan_id = await _seeded(tools)
    patch = {
        "stages": [
            {"name": "Build", "tasks": [{"name": "api"}, {"name": "UI"}]},
            {"name": "Ship", "tasks": [{"name": "Announce"}]},
        ],
        "tasks": [{"name": "Review", "stage": "s-design"}, {"name": "Retro"}],
    }
    node = node_of(_plan_node(plan_id, store_mode="append", patch=patch))
    result = await execute_special_node(node, context_of("planner"), tools, no_models)
    assert result.succeeded, result.error
    assert _shape(await tools("plan_get", {"id": plan_id})) == [
        ("Design", "pending", [("Sketch", "pending"), ("Review", "pending")]),
        ("Build", "pending", [("API", "pending"), ("UI", "pending")]),
        ("Ship", "pending", [("Announce", "pending"), ("Retro", "pending")]),
    ]


async def test_replace_rewrites_the_stages(
    tools: NodeRunTools, no_models: OpenAIModelCaller, node_of: Any, context_of: Any
) -> None:
    plan_id = await _seeded(tools)
    patch = {"description": "v2", "stages": [{"name": "Only", "status": "in_progress"}]}
    node = node_of(_plan_node(plan_id, store_mode="replace", patch=patch))
    await execute_special_node(node, context_of("planner"), tools, no_models)
    stored = await tools("plan_get", {"id": plan_id})
    assert (stored["name"], stored["description"]) == ("Launch", "v2")
    assert _shape(stored) == [("Only", "in_progress", [])]


async def test_run_plan_is_created_then_updated_from_the_context(
    tools: NodeRunTools, no_models: OpenAIModelCaller, node_of: Any, context_of: Any
) -> None:
    run_id = f"run-{uuid.uuid4().hex[:8]}"
    node = node_of(
        _plan_node(None, store_mode="append", patch_source_path="latest_upstream.output.plan")
    )
    first = await execute_special_node(
        node,
        context_of("planner", run_id=run_id, upstream={"plan": {"stages": [{"name": "A"}]}}),
        tools,
        no_models,
    )
    assert first.succeeded, first.error
    plan_id = first.output["plan_id"]
    assert first.output["artifact"]["plan"]["name"] == "Run plan"  # the node title
    second = await execute_special_node(
        node,
        context_of(
            "planner",
            run_id=run_id,
            execution_index=1,
            upstream={"plan": {"stages": [{"name": "B"}]}},
        ),
        tools,
        no_models,
    )
    assert second.output["plan_id"] == plan_id
    assert [s["name"] for s in (await tools("plan_get", {"id": plan_id}))["stages"]] == ["A", "B"]
    other_run = await execute_special_node(
        node, context_of("planner", run_id=f"{run_id}-x", upstream={"plan": {}}), tools, no_models
    )
    assert other_run.output["plan_id"] != plan_id


async def test_invalid_patch_from_the_context_names_the_field(
    tools: NodeRunTools, no_models: OpenAIModelCaller, node_of: Any, context_of: Any
) -> None:
    node = node_of(_plan_node(None, patch_source_path="latest_upstream.output.plan"))
    result = await execute_special_node(
        node,
        context_of("planner", upstream={"plan": {"stages": [{"name": "A", "status": "done"}]}}),
        tools,
        no_models,
    )
    assert result.error is not None
    assert (result.error.code, result.error.details[0].field) == (
        "validation_failed",
        "config.patch_source_path.stages[0].status",
    )
    missing = await execute_special_node(node, context_of("planner", upstream={}), tools, no_models)
    assert missing.error is not None
    assert missing.error.details[0].field == "config.patch_source_path"


async def test_unknown_stage_in_update_conflicts_when_fallback_is_disabled(
    tools: NodeRunTools, no_models: OpenAIModelCaller, node_of: Any, context_of: Any
) -> None:
    plan_id = await _seeded(tools)
    patch = {"stages": [{"name": "QA", "status": "completed"}]}
    node = node_of(_plan_node(plan_id, patch=patch, tool_fallback_mode="disabled"))
    result = await execute_special_node(node, context_of("planner"), tools, no_models)
    assert not result.succeeded
    assert result.error is not None
    assert (result.error.code, result.error.details[0].field) == ("conflict", "patch.stages[0]")
    assert "no stage 'QA'" in result.error.message
    assert (await tools("plan_get", {"id": plan_id}))["version"] == 1


async def test_conflict_falls_back_to_the_model_with_a_warning(
    tools: NodeRunTools, models: OpenAIModelCaller, node_of: Any, context_of: Any, demo_llm: Any
) -> None:
    plan_id = await _seeded(tools)
    node = node_of(
        _plan_node(
            plan_id,
            patch={"tasks": [{"name": "Nope", "status": "completed"}]},
            tool_fallback_mode="conflict_only",
        )
    )
    before = demo_llm.stats.completions
    result = await execute_special_node(node, context_of("planner"), tools, models)
    assert result.succeeded, result.error
    assert demo_llm.stats.completions == before + 1
    output = result.output
    assert output["fallback_used"] is True
    assert output["fallback_reason"].startswith("tool failed (conflict)")
    assert output["fallback"] == {"summary": "demo", "assumed_state": "demo"}
    assert output["artifact"]["plan"]["id"] == plan_id  # last state read before the conflict
    assert len(result.warnings) == 1
    assert "LLM fallback" in result.warnings[0]
    assert (await tools("plan_get", {"id": plan_id}))["version"] == 1  # nothing written


async def test_conflict_only_does_not_fall_back_on_a_missing_plan(
    tools: NodeRunTools, models: OpenAIModelCaller, node_of: Any, context_of: Any, demo_llm: Any
) -> None:
    node = node_of(_plan_node("no-such-plan", patch={}, tool_fallback_mode="conflict_only"))
    before = demo_llm.stats.requests
    result = await execute_special_node(node, context_of("planner"), tools, models)
    assert result.error is not None
    assert result.error.code == "not_found"
    assert demo_llm.stats.requests == before


async def test_fallback_that_cannot_reach_a_model_fails_with_the_tool_error(
    tools: NodeRunTools, no_models: OpenAIModelCaller, node_of: Any, context_of: Any
) -> None:
    node = node_of(_plan_node("no-such-plan", patch={}))  # default mode: all
    result = await execute_special_node(node, context_of("planner"), tools, no_models)
    assert result.error is not None
    assert result.error.code == "not_found"
    assert "LLM fallback failed" in result.error.message


async def test_update_entries_need_an_id_or_name(
    tools: NodeRunTools, no_models: OpenAIModelCaller, node_of: Any, context_of: Any
) -> None:
    plan_id = await _seeded(tools)
    node = node_of(_plan_node(plan_id, patch={"stages": [{"status": "completed"}]}))
    result = await execute_special_node(node, context_of("planner"), tools, no_models)
    assert result.error is not None
    assert (result.error.code, result.error.details[0].field) == (
        "validation_failed",
        "patch.stages[0]",
    )
