"""Legacy text conditions: parsed into predicates where possible, else a marked heuristic."""

from __future__ import annotations

import json
import re
from typing import Any

from llmctl_contracts.flowchart import Predicate, PredicateOp

__all__ = ["heuristic_match", "parse_condition_text"]

_COMPARE = re.compile(r"^\s*([A-Za-z_][\w.\[\]]*)\s*(==|!=)\s*(.+?)\s*$")
_CONTAINS = re.compile(r"^\s*([A-Za-z_][\w.\[\]]*)\s+contains\s+(.+?)\s*$")
_BARE_PATH = re.compile(r"^\s*([A-Za-z_]\w*(?:\.[\w\[\]]+)+)\s*$")


def _literal(text: str) -> Any:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_condition_text(text: str) -> Predicate | None:
    """Parse ``path == v``, ``path != v``, ``path contains x`` or a bare dotted path."""
    if match := _COMPARE.match(text):
        op = PredicateOp.EQ if match.group(2) == "==" else PredicateOp.NE
        return Predicate(op=op, path=match.group(1), value=_literal(match.group(3)))
    if match := _CONTAINS.match(text):
        return Predicate(
            op=PredicateOp.CONTAINS, path=match.group(1), value=_literal(match.group(2))
        )
    if match := _BARE_PATH.match(text):
        return Predicate(op=PredicateOp.EXISTS, path=match.group(1))
    return None


def heuristic_match(text: str, context: dict[str, Any], route_key: str | None) -> tuple[bool, str]:
    """The controlled heuristic for free text: route-key equality, else substring search."""
    needle = text.strip()
    if route_key is not None and needle.lower() == route_key.lower():
        return True, f"text equals route_key {route_key!r}"
    haystack = json.dumps(context, sort_keys=True, default=str).lower()
    if needle.lower() in haystack:
        return True, "text found in serialized context"
    return False, "text not found in serialized context"
