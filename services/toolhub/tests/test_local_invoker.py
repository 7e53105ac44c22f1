"""The in-process invoker: recorded calls replay by key, mismatches and failures are not
recorded, the domain catalog describes every tool."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
import pytest

from llmctl_libs.store import Database
from llmctl_toolhub.domains.catalog import DOMAIN_OPERATIONS, operations_by_name
from llmctl_toolhub.nodes.local_invoker import LocalToolInvoker


def _invoker(db: Database, prefix: str) -> LocalToolInvoker:
    return LocalToolInvoker(db, operations_by_name(), prefix)


async def test_a_second_pass_with_the_same_key_replays_instead_of_writing(
    toolhub_db: Database, tools: LocalToolInvoker
) -> None:
    prefix = f"nr-{uuid.uuid4().hex[:8]}:1"
    scope = f"inv-{uuid.uuid4().hex[:8]}"
    first = _invoker(toolhub_db, prefix)
    created = await first("memory_create", {"content": "a", "scope": scope})
    listed = await first("memory_list", {"scope": scope})

    again = _invoker(toolhub_db, prefix)  # the redelivered attempt
    assert await again("memory_create", {"content": "a", "scope": scope}) == created
    assert await again("memory_list", {"scope": scope}) == listed
    assert len((await tools("memory_list", {"scope": scope}))["items"]) == 1

    next_attempt = _invoker(toolhub_db, prefix.replace(":1", ":2"))
    await next_attempt("memory_create", {"content": "a", "scope": scope})
    assert len((await tools("memory_list", {"scope": scope}))["items"]) == 2


async def test_a_replay_with_other_arguments_is_refused(toolhub_db: Database, refused: Any) -> None:
    prefix = f"nr-{uuid.uuid4().hex[:8]}:1"
    await _invoker(toolhub_db, prefix)("memory_create", {"content": "a"})
    error = await refused(_invoker(toolhub_db, prefix), "memory_create", {"content": "b"})
    assert (error.code, error.details[0].field) == ("idempotency_mismatch", "arguments")


async def test_failed_calls_are_not_recorded(
    toolhub_db: Database, tools: LocalToolInvoker, refused: Any
) -> None:
    prefix = f"nr-{uuid.uuid4().hex[:8]}:1"
    memory = await tools("memory_create", {"content": "a"})
    stale = {"id": memory["id"], "expected_version": 2, "content": "b"}
    error = await refused(_invoker(toolhub_db, prefix), "memory_update", stale)
    assert error.code == "conflict"
    await tools("memory_update", {**stale, "expected_version": 1, "content": "x"})
    # The retry of the same call index now succeeds: the failure left no record behind.
    updated = await _invoker(toolhub_db, prefix)("memory_update", stale)
    assert (updated["content"], updated["version"]) == ("b", 3)


def test_catalog_describes_every_seed_operation() -> None:
    names = {op.name for op in DOMAIN_OPERATIONS}
    expected = {
        *(f"memory_{o}" for o in ("get", "list", "create", "update", "delete", "search")),
        *(
            f"plan_{o}"
            for o in (
                "get",
                "list",
                "create",
                "update",
                "delete",
                "reorder_stages",
                "set_stage_status",
            )
        ),
        *(
            f"milestone_{o}"
            for o in ("get", "list", "create", "update", "delete", "set_status", "attach_evidence")
        ),
        *(
            f"decision_{o}"
            for o in (
                "create",
                "evaluate",
                "list_options",
                "score_options",
                "record_outcome",
                "get",
                "list",
            )
        ),
    }
    assert names == expected
    assert len(DOMAIN_OPERATIONS) == len(expected)
    for op in DOMAIN_OPERATIONS:
        assert op.description != op.name, f"{op.name} has no docstring"
        assert op.input_type.__struct_config__.forbid_unknown_fields, op.name
        assert msgspec.json.schema(op.input_type)["$ref"]  # the input/output tool schemas
        assert msgspec.json.schema(op.output_type)["$ref"]
    writes = {op.name for op in DOMAIN_OPERATIONS if op.writes}
    assert "memory_search" not in writes
    assert "decision_evaluate" in writes


@pytest.mark.parametrize("tool", ["plan_create", "milestone_create"])
async def test_duplicate_ids_conflict(tools: LocalToolInvoker, refused: Any, tool: str) -> None:
    entity_id = f"dup-{uuid.uuid4().hex[:8]}"
    await tools(tool, {"name": "x", "id": entity_id})
    error = await refused(tools, tool, {"name": "y", "id": entity_id})
    assert (error.code, error.details[0].field) == ("conflict", "id")
