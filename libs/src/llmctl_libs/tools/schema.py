"""JSON Schemas of tool inputs/outputs, derived from their msgspec Structs.

Validation (``msgspec.convert``) and the published schema come from the same type, so they
cannot disagree. The schema is an object schema at the top level (what every provider wants)
with shared definitions kept under ``$defs``.
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["struct_schema"]

_REF_PREFIX = "#/$defs/"


def struct_schema(type_: type[Any]) -> dict[str, Any]:
    """The JSON Schema of a Struct with its root ``$ref`` resolved in place.

    Unused definitions are dropped; recursive types keep their ``$ref`` into ``$defs``.
    """
    schema = msgspec.json.schema(type_)
    defs: dict[str, Any] = dict(schema.pop("$defs", {}))
    ref = schema.pop("$ref", None)
    root = dict(defs[ref.removeprefix(_REF_PREFIX)]) if isinstance(ref, str) else dict(schema)
    used = _referenced(root, defs)
    if used:
        root["$defs"] = {name: defs[name] for name in sorted(used)}
    return root


def _referenced(node: Any, defs: dict[str, Any]) -> set[str]:
    """Every definition reachable from ``node``."""
    found: set[str] = set()
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("$ref")
            if isinstance(ref, str) and ref.startswith(_REF_PREFIX):
                name = ref.removeprefix(_REF_PREFIX)
                if name not in found:
                    found.add(name)
                    stack.append(defs[name])
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found
