"""Registry rules, schemas derived from Structs, and provider renderings checked with each
provider's official SDK types."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from anthropic.types import ToolParam
from google.genai import types as genai_types
from openai.types.chat import ChatCompletionFunctionToolParam
from pydantic import TypeAdapter

from llmctl_contracts.flowchart import DecisionNode
from llmctl_contracts.tools import ToolCallRequest, ToolStatus
from llmctl_libs.tools import (
    ToolContext,
    ToolError,
    ToolRegistry,
    ToolRuntime,
    ToolSpec,
    render_anthropic,
    render_gemini,
    render_openai,
    struct_schema,
)


class Args(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    node: DecisionNode
    limit: int = 10


class Out(msgspec.Struct, frozen=True, kw_only=True):
    ok: bool


async def handler(ctx: ToolContext, args: Args) -> Out:
    return Out(ok=True)


def spec(name: str = "branch_check", version: int = 1) -> ToolSpec[Args, Out]:
    return ToolSpec(name, version, "test", f"{name} v{version}", Args, Out, handler)


def test_registration_rules() -> None:
    registry = ToolRegistry([spec()])
    with pytest.raises(ValueError, match="already registered"):
        registry.register(spec())
    with pytest.raises(ValueError, match="must match"):
        registry.register(spec("Bad-Name"))
    with pytest.raises(ValueError, match="version"):
        registry.register(spec("other", 0))
    registry.register(spec(version=2))
    assert registry.get("branch_check").version == 2
    assert registry.get("branch_check", 1).version == 1
    with pytest.raises(ToolError) as info:
        registry.get("missing")
    assert info.value.body.details[0].field == "tool"


def test_schema_is_an_object_with_its_definitions() -> None:
    schema = struct_schema(Args)
    assert schema["type"] == "object"
    assert schema["required"] == ["node"]
    assert "$ref" not in schema
    # the recursive predicate types stay as references into $defs
    assert "Predicate" in schema["$defs"]
    assert "Args" not in schema["$defs"]
    assert struct_schema(Out) == {
        "type": "object",
        "title": "Out",
        "properties": {"ok": {"type": "boolean"}},
        "required": ["ok"],
    }


def _same_after_validation(adapter: TypeAdapter[Any], value: Any) -> None:
    """Validate with the SDK type; nothing may be dropped as unknown."""
    assert adapter.validate_python(value) == value


def test_renderings_validate_with_the_provider_sdks() -> None:
    tools = ToolRegistry([spec(), spec("other_tool")]).describe()
    openai_tools = render_openai(tools)
    anthropic_tools = render_anthropic(tools)
    gemini_tools = render_gemini(tools)
    assert [t["function"]["name"] for t in openai_tools] == ["branch_check", "other_tool"]
    for value in openai_tools:
        _same_after_validation(TypeAdapter(ChatCompletionFunctionToolParam), value)
    for value in anthropic_tools:
        _same_after_validation(TypeAdapter(ToolParam), value)
    declarations = [genai_types.FunctionDeclaration.model_validate(v) for v in gemini_tools]
    assert declarations[0].parameters_json_schema == tools[0].input_schema
    assert declarations[0].response_json_schema == tools[0].output_schema
    genai_types.Tool(function_declarations=declarations)
    # all three carry the very same schema
    assert (
        openai_tools[0]["function"]["parameters"]
        == anthropic_tools[0]["input_schema"]
        == gemini_tools[0]["parameters_json_schema"]
        == struct_schema(Args)
    )


async def test_runtime_without_a_database_runs_calls_without_dedupe() -> None:
    """The executors' mode: no transaction, no replay, the audit record goes to the log."""
    calls: list[int] = []

    async def count(ctx: ToolContext, args: Args) -> Out:
        assert ctx.conn is None
        calls.append(args.limit)
        return Out(ok=True)

    runtime = ToolRuntime(
        ToolRegistry([ToolSpec("count", 1, "test", "Count.", Args, Out, count, writes=True)])
    )
    request = ToolCallRequest(
        tool="count", arguments={"node": {"id": "d"}, "limit": 3}, idempotency_key="k"
    )
    first, second = await runtime.invoke(request), await runtime.invoke(request)
    assert (first.status, second.status) == (ToolStatus.SUCCESS, ToolStatus.SUCCESS)
    assert not second.replayed
    assert calls == [3, 3]
    bad = await runtime.invoke(ToolCallRequest(tool="count", arguments={"node": {"id": 1}}))
    assert bad.error is not None
    assert bad.error.details[0].field == "arguments.node.id"
