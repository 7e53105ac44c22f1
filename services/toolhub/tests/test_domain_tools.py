"""The domain operations as registered tools, called in process through the shared tool
runtime: every write tool replays by key without a second effect, a replay with other
arguments is refused, a new attempt calls afresh, and the catalog covers the seed's inventory."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import pytest
import sqlalchemy as sa

from llmctl_libs.store import Database
from llmctl_libs.tools import NodeRunTools, ToolRuntime
from llmctl_toolhub.domains.catalog import DOMAIN_OPERATIONS
from llmctl_toolhub.tools import SPECIAL_NODE_TOOLS

Setup = Callable[[NodeRunTools], Awaitable[dict[str, Any]]]

OPTIONS = [{"label": "Postgres"}, {"label": "SQLite"}]
STAGES = [{"id": "a", "name": "A"}, {"id": "b", "name": "B"}]


async def _memory(tools: NodeRunTools) -> dict[str, Any]:
    return await tools("memory_create", {"content": "m", "scope": f"s-{uuid.uuid4().hex[:6]}"})


async def _plan(tools: NodeRunTools) -> dict[str, Any]:
    return await tools("plan_create", {"name": "p", "stages": STAGES})


async def _milestone(tools: NodeRunTools) -> dict[str, Any]:
    return await tools("milestone_create", {"name": "m"})


async def _decision(tools: NodeRunTools) -> dict[str, Any]:
    return await tools("decision_create", {"title": "d", "options": OPTIONS})


async def _scored(tools: NodeRunTools) -> dict[str, Any]:
    decision = await _decision(tools)
    scores = [{"option_id": "option_1", "score": 9}, {"option_id": "option_2", "score": 1}]
    return await tools("decision_score_options", {"id": decision["id"], "scores": scores})


async def _nothing(tools: NodeRunTools) -> dict[str, Any]:
    return {}


# tool -> (what must exist first, the call's arguments given that entity, how to read it back)
WRITE_CASES: dict[str, tuple[Setup, Callable[[dict[str, Any]], dict[str, Any]], str | None]] = {
    "memory_create": (_nothing, lambda e: {"content": "x"}, None),
    "memory_update": (
        _memory,
        lambda e: {"id": e["id"], "expected_version": 1, "content": "y"},
        "memory_get",
    ),
    "memory_delete": (_memory, lambda e: {"id": e["id"]}, "memory_get"),
    "plan_create": (_nothing, lambda e: {"name": "p"}, None),
    "plan_update": (
        _plan,
        lambda e: {"id": e["id"], "expected_version": 1, "name": "q"},
        "plan_get",
    ),
    "plan_delete": (_plan, lambda e: {"id": e["id"]}, "plan_get"),
    "plan_reorder_stages": (_plan, lambda e: {"id": e["id"], "stage_ids": ["b", "a"]}, "plan_get"),
    "plan_set_stage_status": (
        _plan,
        lambda e: {"id": e["id"], "stage_id": "a", "status": "completed"},
        "plan_get",
    ),
    "milestone_create": (_nothing, lambda e: {"name": "m"}, None),
    "milestone_update": (
        _milestone,
        lambda e: {"id": e["id"], "expected_version": 1, "owner": "ada"},
        "milestone_get",
    ),
    "milestone_delete": (_milestone, lambda e: {"id": e["id"]}, "milestone_get"),
    "milestone_set_status": (
        _milestone,
        lambda e: {"id": e["id"], "status": "in_progress"},
        "milestone_get",
    ),
    "milestone_attach_evidence": (
        _milestone,
        lambda e: {"id": e["id"], "kind": "note", "ref": "r"},
        "milestone_get",
    ),
    "decision_create": (_nothing, lambda e: {"title": "d", "options": OPTIONS}, None),
    "decision_score_options": (
        _decision,
        lambda e: {"id": e["id"], "scores": [{"option_id": "option_1", "score": 5}]},
        "decision_get",
    ),
    "decision_evaluate": (_scored, lambda e: {"id": e["id"]}, "decision_get"),
    "decision_record_outcome": (
        _decision,
        lambda e: {"id": e["id"], "option_id": "option_2", "summary": "s"},
        "decision_get",
    ),
}


def _node_run(runtime: ToolRuntime, node_run_id: str, attempt: int = 1) -> NodeRunTools:
    return runtime.for_node_run(
        node_run_id=node_run_id,
        run_id="run-domain-tools",
        allowed_tools=[op.name for op in DOMAIN_OPERATIONS],
        attempt=attempt,
    )


async def _entity_count(db: Database) -> int:
    tables = ("memories", "plans", "milestones", "decisions")
    async with db.engine.connect() as conn:
        counts = [
            (await conn.execute(sa.text(f"SELECT count(*) FROM toolhub.{t}"))).scalar_one()
            for t in tables
        ]
    return sum(counts)


def test_every_write_tool_has_a_replay_case() -> None:
    assert set(WRITE_CASES) == {op.name for op in DOMAIN_OPERATIONS if op.writes}


@pytest.mark.parametrize("tool", sorted(WRITE_CASES))
async def test_a_redelivered_write_replays_its_recorded_result(
    tool: str, domain_runtime: ToolRuntime, toolhub_db: Database
) -> None:
    setup, arguments_for, read_back = WRITE_CASES[tool]
    entity = await setup(_node_run(domain_runtime, f"setup-{uuid.uuid4().hex}"))
    node_run_id = f"nr-{uuid.uuid4().hex}"
    arguments = arguments_for(entity)
    first = _node_run(domain_runtime, node_run_id)
    result = await first(tool, arguments)
    assert first.results[-1].replayed is False
    state = None if read_back is None else await _read(domain_runtime, read_back, entity)
    before = await _entity_count(toolhub_db)

    again = _node_run(domain_runtime, node_run_id)  # the same attempt, redelivered
    assert await again(tool, arguments) == result
    assert again.results[-1].replayed is True
    assert await _entity_count(toolhub_db) == before  # no second create
    if read_back is not None:
        assert await _read(domain_runtime, read_back, entity) == state  # no second update


async def _read(runtime: ToolRuntime, tool: str, entity: dict[str, Any]) -> Any:
    reader = _node_run(runtime, f"read-{uuid.uuid4().hex}")
    try:
        return await reader(tool, {"id": entity["id"]})
    except Exception as exc:  # a deleted entity reads as its not_found error
        return getattr(exc, "body", exc)


async def test_a_new_attempt_calls_afresh(domain_runtime: ToolRuntime) -> None:
    scope = f"attempt-{uuid.uuid4().hex[:8]}"
    node_run_id = f"nr-{uuid.uuid4().hex}"
    await _node_run(domain_runtime, node_run_id, 1)(
        "memory_create", {"content": "a", "scope": scope}
    )
    await _node_run(domain_runtime, node_run_id, 1)(
        "memory_create", {"content": "a", "scope": scope}
    )
    await _node_run(domain_runtime, node_run_id, 2)(
        "memory_create", {"content": "a", "scope": scope}
    )
    listed = await _node_run(domain_runtime, f"r-{uuid.uuid4().hex}")(
        "memory_list", {"scope": scope}
    )
    assert len(listed["items"]) == 2


async def test_a_replay_with_other_arguments_is_refused(
    domain_runtime: ToolRuntime, refused: Any
) -> None:
    node_run_id = f"nr-{uuid.uuid4().hex}"
    await _node_run(domain_runtime, node_run_id)("memory_create", {"content": "a"})
    error = await refused(_node_run(domain_runtime, node_run_id), "memory_create", {"content": "b"})
    assert error.code == "idempotency_mismatch"


async def test_a_domain_refusal_is_replayed_as_the_same_refusal(
    domain_runtime: ToolRuntime, refused: Any
) -> None:
    """A redelivered node run must take the path it took the first time."""
    memory = await _memory(_node_run(domain_runtime, f"s-{uuid.uuid4().hex}"))
    stale = {"id": memory["id"], "expected_version": 2, "content": "b"}
    node_run_id = f"nr-{uuid.uuid4().hex}"
    first = await refused(_node_run(domain_runtime, node_run_id), "memory_update", stale)
    assert first.code == "conflict"
    await _node_run(domain_runtime, f"fix-{uuid.uuid4().hex}")(
        "memory_update", {**stale, "expected_version": 1, "content": "x"}
    )
    again = await refused(_node_run(domain_runtime, node_run_id), "memory_update", stale)
    assert again == first


async def test_special_nodes_may_only_call_their_own_domain(
    domain_runtime: ToolRuntime, refused: Any
) -> None:
    memory_node = domain_runtime.for_node_run(
        node_run_id=f"nr-{uuid.uuid4().hex}",
        run_id="run-domain-tools",
        allowed_tools=SPECIAL_NODE_TOOLS["memory"],
    )
    error = await refused(memory_node, "plan_create", {"name": "p"})
    assert error.code == "forbidden"
    assert {t.split("_")[0] for t in SPECIAL_NODE_TOOLS["plan"]} == {"plan"}


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
async def test_duplicate_ids_conflict(tools: NodeRunTools, refused: Any, tool: str) -> None:
    entity_id = f"dup-{uuid.uuid4().hex[:8]}"
    await tools(tool, {"name": "x", "id": entity_id})
    error = await refused(tools, tool, {"name": "y", "id": entity_id})
    assert (error.code, error.details[0].field) == ("conflict", "arguments.id")
