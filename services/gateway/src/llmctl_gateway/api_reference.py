"""The API reference in Markdown, generated from the OpenAPI document.

``python -m llmctl_gateway.api_reference docs/reference`` writes ``openapi.json`` (the served
document) and ``api.md`` (rendered from it); tests check both are up to date.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from .openapi import openapi_json

__all__ = ["main", "render_reference", "write_reference"]

_METHODS = ("get", "post", "put", "patch", "delete")


def _cell(text: Any) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _schema_text(schema: dict[str, Any]) -> str:
    """A one-line description of a schema: its ref, type, enum and bounds."""
    if "$ref" in schema:
        return f"`{schema['$ref'].rsplit('/', 1)[-1]}`"
    for combinator in ("oneOf", "anyOf"):
        if combinator in schema:
            return " or ".join(_schema_text(s) for s in schema[combinator])
    kind = schema.get("type", "any")
    if isinstance(kind, list):
        kind = " or ".join(kind)
    if kind == "array" and isinstance(schema.get("items"), dict):
        kind = f"array of {_schema_text(schema['items'])}"
    if "title" in schema and kind == "object":
        kind = f"`{schema['title']}`"
    parts = [kind]
    if "enum" in schema:
        parts.append("one of " + ", ".join(f"`{v}`" for v in schema["enum"]))
    for key, label in (
        ("minimum", ">="),
        ("maximum", "<="),
        ("minLength", "length >="),
        ("maxLength", "length <="),
    ):
        if key in schema:
            bound = schema[key]
            parts.append(f"{label} {int(bound) if float(bound).is_integer() else bound}")
    if "default" in schema:
        parts.append(f"default `{json.dumps(schema['default'])}`")
    return ", ".join(parts)


def _operation(lines: list[str], method: str, path: str, op: dict[str, Any]) -> None:
    lines.append(f"### `{method.upper()} {path}`")
    lines.append("")
    if op.get("summary"):
        lines.append(f"**{op['summary']}**")
        lines.append("")
    if op.get("description"):
        lines.append(_cell(op["description"]))
        lines.append("")
    params = op.get("parameters", [])
    if params:
        lines.append("| parameter | in | required | schema | description |")
        lines.append("| --- | --- | --- | --- | --- |")
        for p in params:
            lines.append(
                f"| `{p['name']}` | {p['in']} | {'yes' if p.get('required') else 'no'} | "
                f"{_cell(_schema_text(p.get('schema', {})))} | {_cell(p.get('description', ''))} |"
            )
        lines.append("")
    body = op.get("requestBody")
    if body:
        schema = body.get("content", {}).get("application/json", {}).get("schema", {})
        required = "required" if body.get("required") else "optional"
        lines.append(f"Body ({required}): {_cell(_schema_text(schema))}")
        if body.get("description"):
            lines.append(f"— {_cell(body['description'])}")
        lines.append("")
    lines.append("| status | description | body |")
    lines.append("| --- | --- | --- |")
    for status, response in sorted(op.get("responses", {}).items()):
        schema = response.get("content", {}).get("application/json", {}).get("schema")
        shown = _cell(_schema_text(schema)) if schema else ""
        lines.append(f"| {status} | {_cell(response.get('description', ''))} | {shown} |")
    lines.append("")


def _schemas(lines: list[str], schemas: dict[str, Any]) -> None:
    lines.append("## Schemas")
    lines.append("")
    for name in sorted(schemas):
        schema = schemas[name]
        properties = schema.get("properties")
        if not properties:
            continue
        lines.append(f"### `{name}`")
        lines.append("")
        required = set(schema.get("required", []))
        lines.append("| field | required | schema |")
        lines.append("| --- | --- | --- |")
        for field in sorted(properties):
            flag = "yes" if field in required else "no"
            lines.append(f"| `{field}` | {flag} | {_cell(_schema_text(properties[field]))} |")
        lines.append("")


def render_reference(document: dict[str, Any]) -> str:
    """The Markdown reference of an OpenAPI document (stable for the same document)."""
    info = document.get("info", {})
    lines = [
        f"# {info.get('title', 'API')} {info.get('version', '')} reference".replace("  ", " "),
        "",
        "<!-- Generated from docs/reference/openapi.json by "
        "`python -m llmctl_gateway.api_reference docs/reference`; do not edit. -->",
        "",
        _cell(info.get("description", "")),
        "",
        "## Operations",
        "",
    ]
    for path in sorted(document.get("paths", {})):
        item = document["paths"][path]
        for method in _METHODS:
            if method in item:
                _operation(lines, method, path, item[method])
    _schemas(lines, document.get("components", {}).get("schemas", {}))
    return "\n".join(lines).rstrip() + "\n"


def write_reference(directory: Path) -> None:
    """Write ``openapi.json`` and ``api.md`` into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    text = openapi_json()
    (directory / "openapi.json").write_text(text)
    (directory / "api.md").write_text(render_reference(json.loads(text)))


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m llmctl_gateway.api_reference DIRECTORY``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m llmctl_gateway.api_reference DIRECTORY", file=sys.stderr)
        return 2
    write_reference(Path(args[0]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
