"""The controlled heuristic for free-text conditions that have no legacy form."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["heuristic_match"]


def heuristic_match(text: str, context: dict[str, Any]) -> tuple[bool, str]:
    """Case-insensitive substring search of ``text`` in the serialized context."""
    haystack = json.dumps(context, sort_keys=True, default=str).lower()
    if text.strip().lower() in haystack:
        return True, "text found in serialized context"
    return False, "text not found in serialized context"
