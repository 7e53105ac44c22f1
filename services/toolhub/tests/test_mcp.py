"""Toolhub's registry over MCP (streamable HTTP) from the official ``mcp`` client: the same
tools, schemas, validation and audit records as over the bus."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from mcp import Client

from llmctl_contracts.tools import ToolCaller, ToolStatus

if TYPE_CHECKING:
    from conftest import ToolhubStack

SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}


async def test_mcp_lists_the_registry_with_its_schemas(stack: ToolhubStack) -> None:
    async with Client(stack.mcp_url) as client:
        listed = await client.list_tools()
    by_name = {t.name: t for t in listed.tools}
    registry = {t.name: t for t in await stack.client.list_tools()}
    assert set(by_name) == set(registry)
    for name, tool in by_name.items():
        assert tool.input_schema == registry[name].input_schema
        assert tool.output_schema == registry[name].output_schema
        assert tool.description == registry[name].description
    assert by_name["run_get"].annotations is not None
    assert by_name["run_get"].annotations.read_only_hint is True
    assert by_name["workflow_cancel"].annotations is not None
    assert by_name["workflow_cancel"].annotations.read_only_hint is False


async def test_mcp_call_returns_structured_output(stack: ToolhubStack) -> None:
    async with Client(stack.mcp_url) as client:
        result = await client.call_tool(
            "node_output_validate", {"output": {"n": "x"}, "output_schema": SCHEMA}
        )
    assert not result.is_error
    assert result.structured_content is not None
    assert result.structured_content["valid"] is False
    assert result.structured_content["errors"][0]["field"] == "$.n"
    assert json.loads(result.content[0].text) == result.structured_content  # type: ignore[union-attr]


async def test_mcp_schema_error_names_the_field(stack: ToolhubStack) -> None:
    async with Client(stack.mcp_url) as client:
        result = await client.call_tool("run_get", {"run_id": 5})
        missing = await client.call_tool("run_get", {"run_id": "no-such-run"})
        bad_meta = await client.call_tool(
            "run_get", {"run_id": "x"}, meta={"llmctl/idempotency_key": 7}
        )
    assert result.is_error
    error = json.loads(result.content[0].text)["error"]  # type: ignore[union-attr]
    assert error["code"] == "validation_failed"
    assert error["details"] == [
        {"field": "arguments.run_id", "reason": "Expected `str`, got `int`"}
    ]
    assert missing.is_error
    assert json.loads(missing.content[0].text)["error"]["code"] == "not_found"  # type: ignore[union-attr]
    assert bad_meta.is_error
    meta_error = json.loads(bad_meta.content[0].text)["error"]  # type: ignore[union-attr]
    assert meta_error["details"][0]["field"] == "_meta.llmctl/idempotency_key"


async def test_mcp_write_with_a_key_applies_once_and_is_audited_as_mcp(
    stack: ToolhubStack,
) -> None:
    run = await stack.start_run(stack.chain("mcp"))
    await stack.wait_status(run.id, "running")
    meta = {"llmctl/idempotency_key": f"mcp-{run.id}", "llmctl/run_id": run.id}
    async with Client(stack.mcp_url) as client:
        first = await client.call_tool("workflow_cancel", {"run_id": run.id}, meta=meta)
        second = await client.call_tool("workflow_cancel", {"run_id": run.id}, meta=meta)
        fresh = await client.call_tool("workflow_cancel", {"run_id": run.id})
    assert first.structured_content is not None
    assert first.structured_content["status"] == "cancelled"
    assert second.structured_content == first.structured_content  # replayed, not refused
    assert fresh.is_error  # no key: a new cancel, which a cancelled run refuses
    assert json.loads(fresh.content[0].text)["error"]["code"] == "conflict"  # type: ignore[union-attr]
    calls = await stack.call("tool_calls_get", {"run_id": run.id, "tool": "workflow_cancel"})
    assert calls.output is not None
    records = calls.output["tool_calls"]
    assert [(r["caller"], r["replayed"]) for r in records] == [
        (ToolCaller.MCP.value, False),
        (ToolCaller.MCP.value, True),
    ]
    assert records[0]["status"] == ToolStatus.SUCCESS.value
