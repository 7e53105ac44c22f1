"""Plan tools on real Postgres, through the invoker: good input and bad input."""

from __future__ import annotations

from typing import Any

import pytest

from llmctl_libs.tools import NodeRunTools

STAGES = [
    {
        "id": "design",
        "name": "Design",
        "tasks": [{"name": "Sketch"}, {"id": "t-review", "name": "Review"}],
    },
    {"id": "build", "name": "Build"},
    {"id": "ship", "name": "Ship", "status": "blocked"},
]


async def _plan(tools: NodeRunTools, **extra: Any) -> dict[str, Any]:
    return await tools("plan_create", {"name": "Release", "stages": STAGES, **extra})


async def test_create_assigns_ids_and_defaults(tools: NodeRunTools) -> None:
    plan = await _plan(tools, description="Q3")
    assert (plan["name"], plan["description"], plan["completed"], plan["version"]) == (
        "Release",
        "Q3",
        False,
        1,
    )
    assert [s["id"] for s in plan["stages"]] == ["design", "build", "ship"]
    assert [s["status"] for s in plan["stages"]] == ["pending", "pending", "blocked"]
    sketch, review = plan["stages"][0]["tasks"]
    assert sketch["id"]
    assert sketch["status"] == "pending"
    assert review["id"] == "t-review"
    assert await tools("plan_get", {"id": plan["id"]}) == plan


async def test_update_replaces_stages_and_bumps_version(tools: NodeRunTools) -> None:
    plan = await _plan(tools)
    updated = await tools(
        "plan_update",
        {
            "id": plan["id"],
            "expected_version": 1,
            "completed": True,
            "stages": [{"id": "build", "name": "Build", "status": "completed"}],
        },
    )
    assert (updated["version"], updated["completed"], updated["name"]) == (2, True, "Release")
    assert [(s["id"], s["status"]) for s in updated["stages"]] == [("build", "completed")]
    listed = await tools("plan_list", {"completed": True, "limit": 200})
    assert plan["id"] in [p["id"] for p in listed["items"]]
    open_plans = await tools("plan_list", {"completed": False, "limit": 200})
    assert plan["id"] not in [p["id"] for p in open_plans["items"]]


async def test_reorder_stages(tools: NodeRunTools) -> None:
    plan = await _plan(tools)
    reordered = await tools(
        "plan_reorder_stages",
        {"id": plan["id"], "stage_ids": ["ship", "design", "build"], "expected_version": 1},
    )
    assert [s["id"] for s in reordered["stages"]] == ["ship", "design", "build"]
    assert reordered["stages"][1]["tasks"] == plan["stages"][0]["tasks"]
    assert reordered["version"] == 2


@pytest.mark.parametrize(
    ("stage_ids", "field", "reason"),
    [
        (["ship", "design", "nope"], "arguments.stage_ids[2]", "has no stage 'nope'"),
        (["ship", "design"], "arguments.stage_ids", "missing from the new order: build"),
        (["ship", "ship", "design", "build"], "arguments.stage_ids[1]", "listed twice"),
    ],
)
async def test_reorder_with_unknown_missing_or_repeated_stages_is_refused(
    tools: NodeRunTools, refused: Any, stage_ids: list[str], field: str, reason: str
) -> None:
    plan = await _plan(tools)
    error = await refused(tools, "plan_reorder_stages", {"id": plan["id"], "stage_ids": stage_ids})
    assert (error.code, error.details[0].field) == ("validation_failed", field)
    assert reason in error.details[0].reason
    assert (await tools("plan_get", {"id": plan["id"]}))["version"] == 1


async def test_set_stage_status(tools: NodeRunTools, refused: Any) -> None:
    plan = await _plan(tools)
    changed = await tools(
        "plan_set_stage_status", {"id": plan["id"], "stage_id": "build", "status": "in_progress"}
    )
    assert [s["status"] for s in changed["stages"]] == ["pending", "in_progress", "blocked"]
    error = await refused(
        tools, "plan_set_stage_status", {"id": plan["id"], "stage_id": "qa", "status": "completed"}
    )
    assert (error.code, error.details[0].field) == ("not_found", "arguments.stage_id")
    error = await refused(
        tools, "plan_set_stage_status", {"id": plan["id"], "stage_id": "build", "status": "done"}
    )
    assert (error.code, error.details[0].field) == ("validation_failed", "arguments.status")


async def test_stale_versions_conflict(tools: NodeRunTools, refused: Any) -> None:
    plan = await _plan(tools)
    await tools("plan_update", {"id": plan["id"], "expected_version": 1, "name": "Renamed"})
    for tool, arguments in [
        ("plan_update", {"name": "Lost"}),
        ("plan_reorder_stages", {"stage_ids": ["ship", "design", "build"]}),
        ("plan_set_stage_status", {"stage_id": "ship", "status": "completed"}),
        ("plan_delete", {}),
    ]:
        error = await refused(tools, tool, {"id": plan["id"], "expected_version": 1, **arguments})
        assert (error.code, error.details[0].field) == ("conflict", "arguments.expected_version"), (
            tool
        )
    current = await tools("plan_get", {"id": plan["id"]})
    assert (current["name"], current["version"]) == ("Renamed", 2)
    assert await tools("plan_delete", {"id": plan["id"], "expected_version": 2}) == {
        "id": plan["id"],
        "deleted": True,
    }
    error = await refused(tools, "plan_get", {"id": plan["id"]})
    assert error.code == "not_found"


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("plan_get", {"id": "no-plan"}),
        ("plan_update", {"id": "no-plan", "expected_version": 1, "name": "x"}),
        ("plan_delete", {"id": "no-plan"}),
        ("plan_reorder_stages", {"id": "no-plan", "stage_ids": []}),
        ("plan_set_stage_status", {"id": "no-plan", "stage_id": "s", "status": "completed"}),
    ],
)
async def test_missing_plan_is_not_found(
    tools: NodeRunTools, refused: Any, tool: str, arguments: dict[str, Any]
) -> None:
    error = await refused(tools, tool, arguments)
    assert (error.code, error.details[0].field) == ("not_found", "arguments.id")


@pytest.mark.parametrize(
    ("arguments", "code", "field"),
    [
        ({}, "validation_failed", "arguments.name"),
        ({"name": "p", "stages": [{"id": "x"}]}, "validation_failed", "arguments.stages[0].name"),
        (
            {"name": "p", "stages": [{"name": "s", "tasks": [{}]}]},
            "validation_failed",
            "arguments.stages[0].tasks[0].name",
        ),
        (
            {"name": "p", "stages": [{"name": "s", "status": "finished"}]},
            "validation_failed",
            "arguments.stages[0].status",
        ),
        (
            {"name": "p", "stages": [{"name": "a", "id": "x"}, {"name": "b", "id": "x"}]},
            "validation_failed",
            "arguments.stages[1].id",
        ),
        (
            {
                "name": "p",
                "stages": [
                    {"name": "a", "tasks": [{"name": "t", "id": "k"}, {"name": "u", "id": "k"}]}
                ],
            },
            "validation_failed",
            "arguments.stages[0].tasks[1].id",
        ),
        ({"name": "p", "owner": "me"}, "validation_failed", "arguments"),
    ],
)
async def test_create_refuses_bad_input(
    tools: NodeRunTools, refused: Any, arguments: dict[str, Any], code: str, field: str
) -> None:
    error = await refused(tools, "plan_create", arguments)
    assert (error.code, error.details[0].field) == (code, field)


async def test_update_needs_a_change(tools: NodeRunTools, refused: Any) -> None:
    plan = await _plan(tools)
    error = await refused(tools, "plan_update", {"id": plan["id"], "expected_version": 1})
    assert error.code == "validation_failed"
