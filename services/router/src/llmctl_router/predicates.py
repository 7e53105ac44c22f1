"""Strict evaluation of structured predicates."""

from __future__ import annotations

import re
from typing import Any

from llmctl_contracts.flowchart import Predicate, PredicateOp

from .paths import MISSING, resolve_path

__all__ = ["PredicateError", "evaluate"]


class PredicateError(Exception):
    """The predicate cannot be evaluated (bad operand types, bad regex)."""


def evaluate(predicate: Predicate, context: dict[str, Any]) -> bool:
    """Evaluate ``predicate`` against ``context``; a missing path is simply not a match."""
    op = predicate.op
    if op is PredicateOp.ALL:
        return all(evaluate(p, context) for p in predicate.of or [])
    if op is PredicateOp.ANY:
        return any(evaluate(p, context) for p in predicate.of or [])
    if op is PredicateOp.NOT:
        return not evaluate((predicate.of or [])[0], context)
    actual = resolve_path(context, predicate.path or "")
    if op is PredicateOp.EXISTS:
        present = actual is not MISSING and actual is not None
        return present if predicate.value in (None, True) else not present
    if actual is MISSING:
        return False
    expected = predicate.value
    try:
        return _compare(op, actual, expected)
    except (TypeError, re.error) as exc:
        raise PredicateError(f"{op.value} on {predicate.path!r}: {exc}") from exc


def _compare(op: PredicateOp, actual: Any, expected: Any) -> bool:
    if op is PredicateOp.EQ:
        return bool(actual == expected)
    if op is PredicateOp.NE:
        return bool(actual != expected)
    if op is PredicateOp.IN:
        if not isinstance(expected, list):
            raise TypeError("'in' needs a list value")
        return actual in expected
    if op is PredicateOp.CONTAINS:
        if isinstance(actual, str):
            if not isinstance(expected, str):
                raise TypeError("a string can only contain a string")
            return expected in actual
        if isinstance(actual, list | dict):
            return expected in actual
        raise TypeError(f"cannot search in {type(actual).__name__}")
    if op is PredicateOp.MATCHES:
        if not isinstance(actual, str) or not isinstance(expected, str):
            raise TypeError("'matches' needs a string and a regex")
        return re.search(expected, actual) is not None
    if isinstance(actual, bool) or isinstance(expected, bool):
        raise TypeError("ordering comparisons need numbers or strings")
    if op is PredicateOp.GT:
        return bool(actual > expected)
    if op is PredicateOp.GTE:
        return bool(actual >= expected)
    if op is PredicateOp.LT:
        return bool(actual < expected)
    if op is PredicateOp.LTE:
        return bool(actual <= expected)
    raise TypeError(f"unknown operator {op}")
