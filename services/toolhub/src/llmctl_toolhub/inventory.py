"""``python -m llmctl_toolhub.inventory [FILE]``: the tool inventory, generated from the registry.

Writes Markdown (default ``docs/reference/tools.md``); a test checks the committed file is
current, so the inventory can never drift from the code.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from llmctl_contracts.tools import ToolDescriptor
from llmctl_libs.bus import Bus
from llmctl_libs.tools import ToolCallStore

from .tables import tool_calls
from .tools import ToolDeps, build_registry

__all__ = ["DEFAULT_PATH", "current_inventory", "main", "render_inventory"]

DEFAULT_PATH = Path("docs/reference/tools.md")


def _type(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " \\| ".join(_type(s) for s in schema["anyOf"])
    kind = schema.get("type", "any")
    if kind == "array":
        return f"array of {_type(schema.get('items', {}))}"
    if "enum" in schema:
        return " \\| ".join(json.dumps(v) for v in schema["enum"])
    return str(kind)


def _fields(schema: dict[str, Any]) -> list[str]:
    required = set(schema.get("required", []))
    rows = ["| field | type | required | default |", "| --- | --- | --- | --- |"]
    for name, prop in schema.get("properties", {}).items():
        default = json.dumps(prop["default"]) if "default" in prop else ""
        rows.append(
            f"| `{name}` | {_type(prop)} | {'yes' if name in required else ''} | {default} |"
        )
    return rows


def render_inventory(tools: list[ToolDescriptor]) -> str:
    """The inventory page for ``tools``."""
    lines = [
        "# Tool inventory",
        "",
        "Generated from toolhub's registry by `python -m llmctl_toolhub.inventory`; do not edit.",
        "Call contract, idempotency, allowlists, fallback contract: [../tools.md](../tools.md).",
        "Full JSON Schemas: `tool.list` over the bus, MCP `tools/list`.",
        "",
        "| tool | version | domain | writes | timeout (s) | attempts |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    ordered = sorted(tools, key=lambda t: (t.domain, t.name))
    for t in ordered:
        lines.append(
            f"| [`{t.name}`](#{t.name}) | {t.version} | {t.domain} | {'yes' if t.writes else 'no'} "
            f"| {t.timeout_seconds:g} | {t.max_attempts} |"
        )
    domain = None
    for t in ordered:
        if t.domain != domain:
            domain = t.domain
            lines += ["", f"## {domain}"]
        lines += ["", f"### {t.name}", "", f"Version {t.version}. {t.description}", ""]
        lines += ["Arguments:", "", *_fields(t.input_schema), ""]
        lines += ["Returns:", "", *_fields(t.output_schema)]
    return "\n".join(lines) + "\n"


def current_inventory() -> str:
    """The inventory of the registry as the code defines it (no connection is made)."""
    deps = ToolDeps(
        bus=Bus("nats://127.0.0.1:4222", service="toolhub"), calls=ToolCallStore(tool_calls)
    )
    return render_inventory(build_registry(deps).describe())


def main(argv: list[str] | None = None) -> int:
    """Write the inventory; returns the exit status."""
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else DEFAULT_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(current_inventory())
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
