"""Provider tool definitions rendered from the registry's schemas.

One schema per tool, three shapes: OpenAI chat-completions function tools, Anthropic
``tools``, Gemini ``FunctionDeclaration``s (``parameters_json_schema``). Plain dicts, so the
framework needs no provider SDK; tests validate them with the SDKs' own types.
"""

from __future__ import annotations

from typing import Any

from llmctl_contracts.tools import ToolDescriptor

__all__ = ["render_anthropic", "render_gemini", "render_openai"]


def render_openai(tools: list[ToolDescriptor]) -> list[dict[str, Any]]:
    """``[{"type": "function", "function": {name, description, parameters}}]``."""
    return [
        {
            "type": "function",
            "function": {
                "name": t.name,
                "description": t.description,
                "parameters": t.input_schema,
            },
        }
        for t in tools
    ]


def render_anthropic(tools: list[ToolDescriptor]) -> list[dict[str, Any]]:
    """``[{name, description, input_schema}]``."""
    return [
        {"name": t.name, "description": t.description, "input_schema": t.input_schema}
        for t in tools
    ]


def render_gemini(tools: list[ToolDescriptor]) -> list[dict[str, Any]]:
    """``[{name, description, parameters_json_schema, response_json_schema}]`` (one Gemini
    ``Tool``'s ``function_declarations``)."""
    return [
        {
            "name": t.name,
            "description": t.description,
            "parameters_json_schema": t.input_schema,
            "response_json_schema": t.output_schema,
        }
        for t in tools
    ]
