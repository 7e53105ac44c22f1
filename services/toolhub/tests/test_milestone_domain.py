"""Milestone tools on real Postgres, through the invoker: good input and bad input."""

from __future__ import annotations

from typing import Any

import pytest

from llmctl_libs.tools import NodeRunTools


async def test_create_update_and_complete(tools: NodeRunTools) -> None:
    created = await tools("milestone_create", {"name": "Beta", "owner": "ana", "priority": "high"})
    assert (created["status"], created["health"], created["progress_percent"]) == (
        "planned",
        "green",
        0,
    )
    assert created["completed_at"] is None
    updated = await tools(
        "milestone_update",
        {
            "id": created["id"],
            "expected_version": 1,
            "progress_percent": 40,
            "health": "yellow",
            "latest_update": "QA",
        },
    )
    assert (updated["progress_percent"], updated["health"], updated["version"]) == (40, "yellow", 2)
    done = await tools("milestone_set_status", {"id": created["id"], "status": "completed"})
    assert (done["status"], done["progress_percent"], done["version"]) == ("completed", 100, 3)
    assert done["completed_at"] is not None
    again = await tools("milestone_set_status", {"id": created["id"], "status": "completed"})
    assert again["version"] == 3  # setting the same status writes nothing
    reopened = await tools(
        "milestone_update", {"id": created["id"], "expected_version": 3, "status": "in_progress"}
    )
    assert (reopened["status"], reopened["completed_at"]) == ("in_progress", None)
    assert await tools("milestone_get", {"id": created["id"]}) == reopened


async def test_attach_evidence(tools: NodeRunTools, refused: Any) -> None:
    created = await tools("milestone_create", {"name": "GA"})
    with_link = await tools(
        "milestone_attach_evidence",
        {"id": created["id"], "kind": "link", "ref": "https://ci/1", "note": "green build"},
    )
    with_run = await tools(
        "milestone_attach_evidence",
        {"id": created["id"], "kind": "node_run", "ref": "nr-1", "expected_version": 2},
    )
    assert [(e["kind"], e["ref"]) for e in with_run["evidence"]] == [
        ("link", "https://ci/1"),
        ("node_run", "nr-1"),
    ]
    assert with_link["evidence"][0]["note"] == "green build"
    error = await refused(
        tools, "milestone_attach_evidence", {"id": created["id"], "kind": "photo", "ref": "x"}
    )
    assert (error.code, error.details[0].field) == ("validation_failed", "arguments.kind")
    error = await refused(
        tools,
        "milestone_attach_evidence",
        {"id": created["id"], "kind": "note", "ref": "x", "expected_version": 2},
    )
    assert (error.code, error.details[0].field) == ("conflict", "arguments.expected_version")


async def test_list_by_status_and_delete(tools: NodeRunTools, refused: Any) -> None:
    blocked = await tools("milestone_create", {"name": "Blocked one", "status": "blocked"})
    listed = await tools("milestone_list", {"status": "blocked", "limit": 200})
    assert blocked["id"] in [m["id"] for m in listed["items"]]
    assert all(m["status"] == "blocked" for m in listed["items"])
    error = await refused(tools, "milestone_delete", {"id": blocked["id"], "expected_version": 9})
    assert error.code == "conflict"
    await tools("milestone_delete", {"id": blocked["id"]})
    error = await refused(tools, "milestone_get", {"id": blocked["id"]})
    assert error.code == "not_found"


async def test_stale_update_conflicts(tools: NodeRunTools, refused: Any) -> None:
    created = await tools("milestone_create", {"name": "RC"})
    await tools("milestone_update", {"id": created["id"], "expected_version": 1, "owner": "bo"})
    error = await refused(
        tools, "milestone_update", {"id": created["id"], "expected_version": 1, "owner": "cy"}
    )
    assert (error.code, error.details[0].field) == ("conflict", "arguments.expected_version")
    assert (await tools("milestone_get", {"id": created["id"]}))["owner"] == "bo"


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("milestone_get", {"id": "no-ms"}),
        ("milestone_update", {"id": "no-ms", "expected_version": 1, "name": "x"}),
        ("milestone_delete", {"id": "no-ms"}),
        ("milestone_set_status", {"id": "no-ms", "status": "completed"}),
        ("milestone_attach_evidence", {"id": "no-ms", "kind": "note", "ref": "r"}),
    ],
)
async def test_missing_milestone_is_not_found(
    tools: NodeRunTools, refused: Any, tool: str, arguments: dict[str, Any]
) -> None:
    error = await refused(tools, tool, arguments)
    assert (error.code, error.details[0].field) == ("not_found", "arguments.id")


@pytest.mark.parametrize(
    ("tool", "arguments", "field"),
    [
        ("milestone_create", {}, "arguments.name"),
        ("milestone_create", {"name": "x", "progress_percent": 101}, "arguments.progress_percent"),
        ("milestone_create", {"name": "x", "health": "blue"}, "arguments.health"),
        ("milestone_create", {"name": "x", "priority": "urgent"}, "arguments.priority"),
        ("milestone_create", {"name": "x", "status": "done"}, "arguments.status"),
        ("milestone_update", {"id": "x", "expected_version": 1}, "arguments.name"),
        ("milestone_update", {"id": "x", "name": "y"}, "arguments.expected_version"),
        ("milestone_attach_evidence", {"id": "x", "kind": "note", "ref": ""}, "arguments.ref"),
        ("milestone_list", {"status": "open"}, "arguments.status"),
    ],
)
async def test_schema_violations_name_the_field(
    tools: NodeRunTools, refused: Any, tool: str, arguments: dict[str, Any], field: str
) -> None:
    error = await refused(tools, tool, arguments)
    assert (error.code, error.details[0].field) == ("validation_failed", field)
