"""Dotted paths into a node's input context (``latest_upstream.output.items[0].name``)."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["MISSING", "resolve_path"]

MISSING: Any = object()
_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def resolve_path(document: Any, path: str) -> Any:
    """The value at ``path`` in ``document``, or :data:`MISSING`."""
    value = document
    for name, index in _PART.findall(path):
        if name:
            if not isinstance(value, dict) or name not in value:
                return MISSING
            value = value[name]
        else:
            position = int(index)
            if not isinstance(value, list) or position >= len(value):
                return MISSING
            value = value[position]
    return value
