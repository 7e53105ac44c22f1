"""Dotted path lookup into a decision's context (``a.b.0.c`` or ``a.b[0].c``)."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["MISSING", "resolve_path"]

MISSING: Any = object()
_INDEX = re.compile(r"\[(\d+)\]")


def resolve_path(document: Any, path: str) -> Any:
    """The value at ``path`` in ``document``, or :data:`MISSING`."""
    current = document
    for part in _INDEX.sub(r".\1", path).split("."):
        if part == "":
            continue
        if isinstance(current, dict):
            if part not in current:
                return MISSING
            current = current[part]
        elif isinstance(current, list) and part.isdigit():
            index = int(part)
            if index >= len(current):
                return MISSING
            current = current[index]
        else:
            return MISSING
    return current
