"""Memory nodes: add (append/replace, retention), retrieve, guided mode, bad config."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from llmctl_libs.store import Database
from llmctl_libs.tools import NodeRunTools
from llmctl_toolhub.domains.tables import memories
from llmctl_toolhub.nodes.execute import execute_special_node
from llmctl_toolhub.nodes.llm import OpenAIModelCaller


def _scope() -> str:
    return f"mem-{uuid.uuid4().hex[:8]}"


def _add(scope: str, **config: Any) -> dict[str, Any]:
    return {
        "type": "memory",
        "id": "remember",
        "action": "add",
        "config": {"scope": scope, **config},
    }


async def test_add_appends_text_from_the_context(
    tools: NodeRunTools, no_models: OpenAIModelCaller, node_of: Any, context_of: Any
) -> None:
    scope = _scope()
    node = node_of(_add(scope, text_source_path="latest_upstream.output.note", tags=["ops"]))
    for note in ("first", "second"):
        result = await execute_special_node(
            node, context_of("remember", upstream={"note": note}), tools, no_models
        )
        assert result.succeeded, result.error
        assert result.warnings == []
    output = result.output
    assert (output["node_type"], output["action"], output["fallback_used"]) == (
        "memory",
        "add",
        False,
    )
    assert output["artifact"]["written"][0]["content"] == "second"
    assert output["artifact"]["written"][0]["tags"] == ["ops"]
    stored = await tools("memory_list", {"scope": scope})
    assert [m["content"] for m in stored["items"]] == ["second", "first"]


async def test_structured_source_values_are_stored_as_json(
    tools: NodeRunTools, no_models: OpenAIModelCaller, node_of: Any, context_of: Any
) -> None:
    scope = _scope()
    node = node_of(_add(scope, text_source_path="latest_upstream.output"))
    result = await execute_special_node(
        node, context_of("remember", upstream={"b": 2, "a": 1}), tools, no_models
    )
    assert result.output["memories"][0]["content"] == '{"a": 1, "b": 2}'


async def test_replace_leaves_only_the_new_memory(
    tools: NodeRunTools, no_models: OpenAIModelCaller, node_of: Any, context_of: Any
) -> None:
    scope = _scope()
    old = [await tools("memory_create", {"content": f"old {i}", "scope": scope}) for i in range(3)]
    node = node_of(_add(scope, store_mode="replace", text="fresh"))
    result = await execute_special_node(node, context_of("remember"), tools, no_models)
    assert result.succeeded, result.error
    assert sorted(result.output["artifact"]["replaced_ids"]) == sorted(m["id"] for m in old)
    stored = await tools("memory_list", {"scope": scope})
    assert [m["content"] for m in stored["items"]] == ["fresh"]


async def test_max_count_retention_keeps_the_newest(
    tools: NodeRunTools, no_models: OpenAIModelCaller, node_of: Any, context_of: Any
) -> None:
    scope = _scope()
    for i in range(4):
        await tools("memory_create", {"content": f"m{i}", "scope": scope})
    node = node_of(_add(scope, text="m4", retention_mode="max_count", retention_max_count=2))
    result = await execute_special_node(node, context_of("remember"), tools, no_models)
    assert len(result.output["artifact"]["pruned_ids"]) == 3
    stored = await tools("memory_list", {"scope": scope})
    assert [m["content"] for m in stored["items"]] == ["m4", "m3"]


async def test_ttl_retention_drops_old_memories(
    tools: NodeRunTools,
    toolhub_db: Database,
    no_models: OpenAIModelCaller,
    node_of: Any,
    context_of: Any,
) -> None:
    scope = _scope()
    stale = await tools("memory_create", {"content": "stale", "scope": scope})
    recent = await tools("memory_create", {"content": "recent", "scope": scope})
    async with toolhub_db.transaction() as conn:  # age one memory past the TTL
        await conn.execute(
            sa.update(memories)
            .where(memories.c.id == stale["id"])
            .values(created_at=sa.func.now() - sa.text("interval '2 hours'"))
        )
    node = node_of(_add(scope, text="new", retention_mode="ttl", retention_ttl_seconds=3600))
    result = await execute_special_node(node, context_of("remember"), tools, no_models)
    assert result.output["artifact"]["pruned_ids"] == [stale["id"]]
    stored = {m["id"] for m in (await tools("memory_list", {"scope": scope}))["items"]}
    assert recent["id"] in stored
    assert stale["id"] not in stored


async def test_retrieve_searches_with_the_context_query(
    tools: NodeRunTools, no_models: OpenAIModelCaller, node_of: Any, context_of: Any
) -> None:
    scope = _scope()
    hit = await tools("memory_create", {"content": "rollback needs approval", "scope": scope})
    await tools("memory_create", {"content": "lunch at noon", "scope": scope})
    node = node_of(
        {
            "type": "memory",
            "id": "recall",
            "action": "retrieve",
            "config": {"scope": scope, "query_source_path": "latest_upstream.output.q"},
        }
    )
    result = await execute_special_node(
        node, context_of("recall", upstream={"q": "rollback"}), tools, no_models
    )
    assert [m["id"] for m in result.output["memories"]] == [hit["id"]]
    assert result.output["artifact"] == {
        "scope": scope,
        "query": "rollback",
        "retrieved_ids": [hit["id"]],
    }


async def test_retrieve_without_query_lists_the_newest(
    tools: NodeRunTools, no_models: OpenAIModelCaller, node_of: Any, context_of: Any
) -> None:
    scope = _scope()
    for i in range(3):
        await tools("memory_create", {"content": f"n{i}", "scope": scope})
    node = node_of(
        {
            "type": "memory",
            "id": "recall",
            "action": "retrieve",
            "config": {"scope": scope, "limit": 2},
        }
    )
    result = await execute_special_node(node, context_of("recall"), tools, no_models)
    assert [m["content"] for m in result.output["memories"]] == ["n2", "n1"]


async def test_default_scope_is_the_flowchart(
    tools: NodeRunTools, no_models: OpenAIModelCaller, node_of: Any, context_of: Any
) -> None:
    node = node_of({"type": "memory", "id": "remember", "action": "add", "config": {"text": "x"}})
    result = await execute_special_node(node, context_of("remember"), tools, no_models)
    assert result.output["scope"] == "flowchart:fc-1"


async def test_deterministic_add_without_text_fails_without_fallback(
    tools: NodeRunTools, no_models: OpenAIModelCaller, node_of: Any, context_of: Any
) -> None:
    scope = _scope()
    node = node_of(
        _add(scope, mode="deterministic", text_source_path="latest_upstream.output.missing")
    )
    result = await execute_special_node(node, context_of("remember", upstream={}), tools, no_models)
    assert not result.succeeded
    assert result.error is not None
    assert (result.error.code, result.error.details[0].field) == (
        "validation_failed",
        "config.text_source_path",
    )
    assert (await tools("memory_list", {"scope": scope}))["items"] == []


async def test_guided_add_lets_the_model_compose_the_text(
    tools: NodeRunTools, models: OpenAIModelCaller, node_of: Any, context_of: Any, demo_llm: Any
) -> None:
    scope = _scope()
    before = demo_llm.stats.completions
    node = node_of(_add(scope, mode="llm_guided", additive_prompt="Keep it short."))
    result = await execute_special_node(
        node, context_of("remember", upstream={"finding": "x"}), tools, models
    )
    assert result.succeeded, result.error
    assert demo_llm.stats.completions == before + 1
    assert demo_llm.stats.bodies[-1]["response_format"]["json_schema"]["name"] == "memory_text"
    stored = await tools("memory_list", {"scope": scope})
    assert [m["content"] for m in stored["items"]] == ["demo"]  # the demo model's example text


async def test_guided_add_without_a_model_fails_unavailable(
    tools: NodeRunTools, no_models: OpenAIModelCaller, node_of: Any, context_of: Any
) -> None:
    node = node_of(_add(_scope()))
    result = await execute_special_node(node, context_of("remember"), tools, no_models)
    assert result.error is not None
    assert result.error.code == "unavailable"


async def test_bad_config_names_the_field(
    tools: NodeRunTools, no_models: OpenAIModelCaller, node_of: Any, context_of: Any
) -> None:
    node = node_of({"type": "memory", "id": "m", "config": {"limit": 0}})
    result = await execute_special_node(node, context_of("m"), tools, no_models)
    assert result.error is not None
    assert (result.error.code, result.error.details[0].field) == (
        "validation_failed",
        "config.limit",
    )


async def test_summary_is_added_when_asked(
    tools: NodeRunTools, models: OpenAIModelCaller, node_of: Any, context_of: Any
) -> None:
    node = node_of(_add(_scope(), text="x", llm_summary=True))
    result = await execute_special_node(node, context_of("remember"), tools, models)
    assert (result.output["summary"], result.warnings) == ("demo", [])


async def test_failed_summary_is_only_a_warning(
    tools: NodeRunTools, no_models: OpenAIModelCaller, node_of: Any, context_of: Any
) -> None:
    node = node_of(_add(_scope(), text="x", llm_summary=True))
    result = await execute_special_node(node, context_of("remember"), tools, no_models)
    assert result.succeeded
    assert "summary" not in result.output
    assert len(result.warnings) == 1
    assert result.warnings[0].startswith("summary unavailable")
