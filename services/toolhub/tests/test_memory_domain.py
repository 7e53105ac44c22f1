"""Memory tools on real Postgres, through the invoker: good input and bad input."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from llmctl_libs.tools import NodeRunTools


def _scope() -> str:
    return f"s-{uuid.uuid4().hex[:8]}"


async def test_create_get_update_delete_round_trip(tools: NodeRunTools) -> None:
    scope = _scope()
    created = await tools(
        "memory_create", {"content": "The deploy uses blue/green", "scope": scope, "tags": ["ops"]}
    )
    assert (created["version"], created["scope"], created["tags"]) == (1, scope, ["ops"])
    assert await tools("memory_get", {"id": created["id"]}) == created
    updated = await tools(
        "memory_update", {"id": created["id"], "expected_version": 1, "content": "Now canary"}
    )
    assert (updated["content"], updated["version"], updated["tags"]) == ("Now canary", 2, ["ops"])
    assert await tools("memory_delete", {"id": created["id"], "expected_version": 2}) == {
        "id": created["id"],
        "deleted": True,
    }
    assert (await tools("memory_list", {"scope": scope}))["items"] == []


async def test_list_filters_by_scope_and_tag_newest_first(tools: NodeRunTools) -> None:
    scope = _scope()
    first = await tools("memory_create", {"content": "one", "scope": scope, "tags": ["a"]})
    second = await tools("memory_create", {"content": "two", "scope": scope, "tags": ["a", "b"]})
    await tools("memory_create", {"content": "elsewhere", "scope": _scope(), "tags": ["a"]})
    listed = await tools("memory_list", {"scope": scope})
    assert [m["id"] for m in listed["items"]] == [second["id"], first["id"]]
    tagged = await tools("memory_list", {"scope": scope, "tag": "b"})
    assert [m["id"] for m in tagged["items"]] == [second["id"]]
    paged = await tools("memory_list", {"scope": scope, "limit": 1, "offset": 1})
    assert [m["id"] for m in paged["items"]] == [first["id"]]


async def test_search_ranks_by_matched_words(tools: NodeRunTools) -> None:
    scope = _scope()
    both = await tools("memory_create", {"content": "Postgres backup runs nightly", "scope": scope})
    one = await tools("memory_create", {"content": "Postgres is the store", "scope": scope})
    await tools("memory_create", {"content": "unrelated", "scope": scope})
    found = await tools("memory_search", {"query": "postgres BACKUP", "scope": scope})
    assert [m["id"] for m in found["items"]] == [both["id"], one["id"]]
    literal = await tools("memory_search", {"query": "100%_", "scope": scope})
    assert literal["items"] == []  # LIKE wildcards in the query are escaped


async def test_caller_chosen_id_is_unique(tools: NodeRunTools, refused: Any) -> None:
    memory_id = f"m-{uuid.uuid4().hex[:8]}"
    await tools("memory_create", {"content": "x", "id": memory_id})
    error = await refused(tools, "memory_create", {"content": "y", "id": memory_id})
    assert error.code == "conflict"
    assert error.details[0].field == "arguments.id"


async def test_stale_version_is_a_conflict_and_changes_nothing(
    tools: NodeRunTools, refused: Any
) -> None:
    created = await tools("memory_create", {"content": "v1"})
    await tools("memory_update", {"id": created["id"], "expected_version": 1, "content": "v2"})
    error = await refused(
        tools, "memory_update", {"id": created["id"], "expected_version": 1, "content": "lost"}
    )
    assert (error.code, error.details[0].field) == ("conflict", "arguments.expected_version")
    assert "version 2" in error.message
    error = await refused(tools, "memory_delete", {"id": created["id"], "expected_version": 1})
    assert error.code == "conflict"
    assert (await tools("memory_get", {"id": created["id"]}))["content"] == "v2"


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("memory_get", {"id": "missing-memory"}),
        ("memory_update", {"id": "missing-memory", "expected_version": 1, "content": "x"}),
        ("memory_delete", {"id": "missing-memory"}),
    ],
)
async def test_missing_ids_are_not_found(
    tools: NodeRunTools, refused: Any, tool: str, arguments: dict[str, Any]
) -> None:
    error = await refused(tools, tool, arguments)
    assert error.code == "not_found"
    assert error.details[0].field == "arguments.id"
    assert "missing-memory" in error.message


@pytest.mark.parametrize(
    ("tool", "arguments", "field"),
    [
        ("memory_create", {}, "arguments.content"),
        ("memory_create", {"content": ""}, "arguments.content"),
        ("memory_create", {"content": "x", "tags": "ops"}, "arguments.tags"),
        ("memory_create", {"content": "x", "colour": "red"}, "arguments"),
        ("memory_create", {"content": "x", "id": "has space"}, "arguments.id"),
        ("memory_create", {"content": "x", "tags": [f"t{i}" for i in range(21)]}, "arguments.tags"),
        ("memory_get", {"id": 7}, "arguments.id"),
        ("memory_update", {"id": "a", "content": "x"}, "arguments.expected_version"),
        (
            "memory_update",
            {"id": "a", "expected_version": 0, "content": "x"},
            "arguments.expected_version",
        ),
        ("memory_list", {"limit": 0}, "arguments.limit"),
        ("memory_list", {"offset": -1}, "arguments.offset"),
        ("memory_search", {"query": ""}, "arguments.query"),
        ("memory_search", {"query": "x", "limit": 51}, "arguments.limit"),
    ],
)
async def test_schema_violations_name_the_field(
    tools: NodeRunTools, refused: Any, tool: str, arguments: dict[str, Any], field: str
) -> None:
    error = await refused(tools, tool, arguments)
    assert error.code == "validation_failed"
    assert error.details[0].field == field
    assert tool in error.message


async def test_update_without_changes_is_refused(tools: NodeRunTools, refused: Any) -> None:
    created = await tools("memory_create", {"content": "x"})
    error = await refused(tools, "memory_update", {"id": created["id"], "expected_version": 1})
    assert (error.code, error.details[0].field) == ("validation_failed", "arguments.content")


async def test_whitespace_only_query_is_refused(tools: NodeRunTools, refused: Any) -> None:
    error = await refused(tools, "memory_search", {"query": "   "})
    assert (error.code, error.details[0].field) == ("validation_failed", "arguments.query")


async def test_unknown_tool_is_not_found(tools: NodeRunTools, refused: Any) -> None:
    error = await refused(tools, "memory_forget", {})
    assert (error.code, error.details[0].field) == ("not_found", "tool")
