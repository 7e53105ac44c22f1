"""Deterministic JSON documents that validate against a JSON Schema (the common subset).

Covers what structured-output schemas use: ``$ref`` into ``$defs``/``definitions``,
``allOf``/``anyOf``/``oneOf``, ``const``/``enum``, and the numeric, string-length, array-size
and required-property keywords. Patterns are not honoured.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["example_for_schema"]

_FORMATS = {
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "00:00:00Z",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "email": "demo@example.com",
    "uri": "https://example.com/demo",
    "hostname": "example.com",
    "ipv4": "127.0.0.1",
}


def example_for_schema(schema: Mapping[str, Any] | bool) -> Any:
    """Return a deterministic instance of ``schema``.

    Args:
        schema: A JSON Schema (draft 2020-12 or 7 keywords).

    Returns:
        A JSON-serialisable value that validates against the schema.
    """
    root = schema if isinstance(schema, Mapping) else {}
    return _Generator(root).value(schema, variant=0, depth=0)


class _Generator:
    def __init__(self, root: Mapping[str, Any]) -> None:
        self._root = root

    def _resolve(self, ref: str) -> Mapping[str, Any]:
        if not ref.startswith("#"):
            return {}
        node: Any = self._root
        for part in ref.lstrip("#").strip("/").split("/"):
            if not part:
                continue
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node if isinstance(node, Mapping) else {}

    def _flatten(self, schema: Mapping[str, Any]) -> dict[str, Any]:
        """Inline ``$ref`` and merge ``allOf`` into one schema mapping."""
        merged: dict[str, Any] = {}
        if "$ref" in schema:
            merged.update(self._flatten(self._resolve(schema["$ref"])))
        for part in schema.get("allOf", []):
            if isinstance(part, Mapping):
                _merge(merged, self._flatten(part))
        own = {k: v for k, v in schema.items() if k not in ("$ref", "allOf")}
        _merge(merged, own)
        return merged

    def value(self, schema: Mapping[str, Any] | bool, *, variant: int, depth: int) -> Any:
        if not isinstance(schema, Mapping):
            return "demo"
        flat = self._flatten(schema)
        if "const" in flat:
            return flat["const"]
        if flat.get("enum"):
            return flat["enum"][variant % len(flat["enum"])]
        for key in ("anyOf", "oneOf"):
            options = flat.get(key)
            if options:
                choice = next((o for o in options if not _is_null(o)), options[0])
                rest = {k: v for k, v in flat.items() if k != key}
                return self.value({**rest, **self._flatten(choice)}, variant=variant, depth=depth)
        kind = _kind(flat)
        if kind == "object":
            return self._object(flat, variant, depth)
        if kind == "array":
            return self._array(flat, variant, depth)
        if kind == "integer":
            return int(_number(flat, variant, integer=True))
        if kind == "number":
            return _number(flat, variant, integer=False)
        if kind == "boolean":
            return True
        if kind == "null":
            return None
        return _string(flat, variant)

    def _object(self, flat: Mapping[str, Any], variant: int, depth: int) -> dict[str, Any]:
        properties: Mapping[str, Any] = flat.get("properties", {})
        names = list(properties)
        names += [name for name in flat.get("required", []) if name not in properties]
        return {
            name: self.value(properties.get(name, {}), variant=variant, depth=depth + 1)
            for name in names
        }

    def _array(self, flat: Mapping[str, Any], variant: int, depth: int) -> list[Any]:
        prefix: list[Any] = list(flat.get("prefixItems", []))
        items = flat.get("items", {})
        if isinstance(items, list):  # draft 7 tuple form
            prefix, items = items, flat.get("additionalItems", {})
        count = max(int(flat.get("minItems", 0)), len(prefix), 1 if depth < 8 else 0)
        if "maxItems" in flat:
            count = min(count, int(flat["maxItems"]))
        unique = bool(flat.get("uniqueItems"))
        result = []
        for index in range(count):
            item_schema = prefix[index] if index < len(prefix) else items
            item_variant = variant + index if unique else variant
            result.append(self.value(item_schema, variant=item_variant, depth=depth + 1))
        return result


def _merge(target: dict[str, Any], extra: Mapping[str, Any]) -> None:
    for key, value in extra.items():
        if key == "properties" and isinstance(target.get(key), Mapping):
            target[key] = {**target[key], **value}
        elif key == "required" and isinstance(target.get(key), list):
            target[key] = [*target[key], *[v for v in value if v not in target[key]]]
        else:
            target[key] = value


def _is_null(schema: Any) -> bool:
    return isinstance(schema, Mapping) and schema.get("type") == "null"


def _kind(flat: Mapping[str, Any]) -> str:
    declared = flat.get("type")
    if isinstance(declared, list):
        declared = next((t for t in declared if t != "null"), declared[0] if declared else None)
    if isinstance(declared, str):
        return declared
    if "properties" in flat or "required" in flat:
        return "object"
    if "items" in flat or "prefixItems" in flat:
        return "array"
    if any(k in flat for k in ("minimum", "maximum", "exclusiveMinimum", "multipleOf")):
        return "number"
    return "string"


def _number(flat: Mapping[str, Any], variant: int, *, integer: bool) -> float:
    step = float(flat.get("multipleOf", 1))
    low = flat.get("minimum")
    if "exclusiveMinimum" in flat and not isinstance(flat["exclusiveMinimum"], bool):
        bound = float(flat["exclusiveMinimum"])
        low = bound + step if low is None else max(float(low), bound + step)
    value = float(low) if low is not None else 0.0
    value += variant * step
    if step and not math.isclose(value / step, round(value / step)):
        value = math.ceil(value / step) * step
    high = flat.get("maximum")
    if "exclusiveMaximum" in flat and not isinstance(flat["exclusiveMaximum"], bool):
        bound = float(flat["exclusiveMaximum"]) - step
        high = bound if high is None else min(float(high), bound)
    if high is not None and value > float(high):
        value = math.floor(float(high) / step) * step if step else float(high)
    if integer:
        value = float(math.ceil(value)) if low is not None else float(round(value))
    return value


def _string(flat: Mapping[str, Any], variant: int) -> str:
    text = _FORMATS.get(str(flat.get("format", "")), "demo")
    if variant and text == "demo":
        text = f"demo-{variant}"
    minimum = int(flat.get("minLength", 0))
    if len(text) < minimum:
        text += "o" * (minimum - len(text))
    if "maxLength" in flat:
        text = text[: int(flat["maxLength"])]
    return text
