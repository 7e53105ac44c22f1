"""The committed tool inventory is the one the registry generates; MCP port settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmctl_toolhub.inventory import current_inventory
from llmctl_toolhub.tooling import MCP_PORT_ENV, mcp_port_from_env

INVENTORY = Path(__file__).resolve().parents[3] / "docs" / "reference" / "tools.md"


def test_committed_inventory_is_current() -> None:
    assert INVENTORY.read_text() == current_inventory(), (
        "docs/reference/tools.md is stale: run `python -m llmctl_toolhub.inventory`"
    )


def test_inventory_lists_every_tool_with_its_arguments() -> None:
    text = current_inventory()
    assert "### workflow_pause" in text
    assert "| `run_id` | string | yes |  |" in text


@pytest.mark.parametrize(("raw", "port"), [(None, 0), ("", 0), ("0", 0), ("8765", 8765)])
def test_mcp_port_setting(monkeypatch: pytest.MonkeyPatch, raw: str | None, port: int) -> None:
    if raw is None:
        monkeypatch.delenv(MCP_PORT_ENV, raising=False)
    else:
        monkeypatch.setenv(MCP_PORT_ENV, raw)
    assert mcp_port_from_env() == port


@pytest.mark.parametrize("raw", ["http", "-1", "70000"])
def test_bad_mcp_port_stops_with_a_message(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv(MCP_PORT_ENV, raw)
    with pytest.raises(SystemExit, match=MCP_PORT_ENV):
        mcp_port_from_env()


def test_every_schema_is_a_valid_object_schema() -> None:
    import jsonschema

    from llmctl_libs.bus import Bus
    from llmctl_libs.tools import ToolCallStore
    from llmctl_toolhub.tables import tool_calls
    from llmctl_toolhub.tools import ToolDeps, build_registry

    deps = ToolDeps(bus=Bus("nats://127.0.0.1:4222", service="t"), calls=ToolCallStore(tool_calls))
    descriptors = build_registry(deps).describe()
    from llmctl_toolhub.domains.catalog import DOMAIN_OPERATIONS

    assert {t.domain for t in descriptors} == {
        "memory",
        "plan",
        "milestone",
        "decision",
        "connector_branch",
        "contract_validation",
        "observability",
        "workflow_control",
        "model_provider",
    }
    assert {op.name for op in DOMAIN_OPERATIONS} <= {t.name for t in descriptors}
    for tool in descriptors:
        for schema in (tool.input_schema, tool.output_schema):
            jsonschema.Draft202012Validator.check_schema(schema)
            assert schema["type"] == "object", tool.name


def test_toolhub_registry_renders_for_every_provider_sdk() -> None:
    from anthropic.types import ToolParam
    from google.genai import types as genai_types
    from openai.types.chat import ChatCompletionFunctionToolParam
    from pydantic import TypeAdapter

    from llmctl_libs.bus import Bus
    from llmctl_libs.tools import ToolCallStore, render_anthropic, render_gemini, render_openai
    from llmctl_toolhub.tables import tool_calls
    from llmctl_toolhub.tools import ToolDeps, build_registry

    deps = ToolDeps(bus=Bus("nats://127.0.0.1:4222", service="t"), calls=ToolCallStore(tool_calls))
    descriptors = build_registry(deps).describe()
    openai_adapter = TypeAdapter(ChatCompletionFunctionToolParam)
    anthropic_adapter = TypeAdapter(ToolParam)
    for value in render_openai(descriptors):
        assert openai_adapter.validate_python(value) == value
    for value in render_anthropic(descriptors):
        assert anthropic_adapter.validate_python(value) == value
    declarations = [
        genai_types.FunctionDeclaration.model_validate(v) for v in render_gemini(descriptors)
    ]
    assert [d.name for d in declarations] == [t.name for t in descriptors]
