"""Rules of a decision node's conditions, shared by save-time validation and the router.

Pure functions over the flowchart schema: the structure a predicate must have, the legacy
text forms a condition may be written in, and the sync of a decision's conditions with its
solid outgoing connectors. The orchestrator applies them when a flowchart is saved, the router
when it serves ``connector_conditions.validate`` and when it routes, so the two cannot disagree.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .errors import FieldError
from .flowchart import (
    Connector,
    ConnectorKind,
    DecisionCondition,
    DecisionNode,
    NoMatchPolicy,
    Predicate,
    PredicateOp,
)
from .routing_ops import ConditionValidation

__all__ = [
    "FALSY_VALUES",
    "parse_condition_text",
    "predicate_errors",
    "validate_connector_conditions",
]

FALSY_VALUES: list[Any] = [False, 0, "", [], {}]
"""The values a legacy bare-path condition treats as false (besides a missing path or null)."""

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
    """The predicate of a legacy text condition, ``None`` when it has none of the forms.

    ``path == v`` and ``path != v`` (``v`` a JSON literal or a quoted or bare string),
    ``path contains x``, and a bare dotted path, which holds when the value there is truthy:
    present, not null and not one of :data:`FALSY_VALUES`.
    """
    if match := _COMPARE.match(text):
        op = PredicateOp.EQ if match.group(2) == "==" else PredicateOp.NE
        return Predicate(op=op, path=match.group(1), value=_literal(match.group(3)))
    if match := _CONTAINS.match(text):
        return Predicate(
            op=PredicateOp.CONTAINS, path=match.group(1), value=_literal(match.group(2))
        )
    if match := _BARE_PATH.match(text):
        path = match.group(1)
        return Predicate(
            op=PredicateOp.ALL,
            of=[
                Predicate(op=PredicateOp.EXISTS, path=path),
                Predicate(
                    op=PredicateOp.NOT,
                    of=[Predicate(op=PredicateOp.IN, path=path, value=list(FALSY_VALUES))],
                ),
            ],
        )
    return None


_COMBINATORS = frozenset({PredicateOp.ALL, PredicateOp.ANY, PredicateOp.NOT})
_ORDERING = frozenset({PredicateOp.GT, PredicateOp.GTE, PredicateOp.LT, PredicateOp.LTE})


def predicate_errors(pred: Predicate, field: str) -> list[FieldError]:
    """Structural problems of ``pred`` (and its sub-predicates), located under ``field``."""
    if pred.op in _COMBINATORS:
        return _combinator_errors(pred, field)
    errors: list[FieldError] = []
    if not pred.path or not pred.path.strip():
        errors.append(FieldError(field=f"{field}.path", reason=f"'{pred.op}' needs a path"))
    if pred.of is not None:
        errors.append(FieldError(field=f"{field}.of", reason=f"'{pred.op}' takes no 'of'"))
    value = pred.value
    if pred.op is PredicateOp.IN and not isinstance(value, list):
        errors.append(FieldError(field=f"{field}.value", reason="'in' needs a list value"))
    elif pred.op is PredicateOp.MATCHES:
        if not isinstance(value, str):
            errors.append(
                FieldError(field=f"{field}.value", reason="'matches' needs a regex string value")
            )
        else:
            try:
                re.compile(value)
            except re.error as exc:
                errors.append(FieldError(field=f"{field}.value", reason=f"invalid regex: {exc}"))
    elif pred.op in _ORDERING and (
        isinstance(value, bool) or not isinstance(value, int | float | str)
    ):
        errors.append(
            FieldError(field=f"{field}.value", reason=f"'{pred.op}' needs a number or string value")
        )
    elif pred.op is PredicateOp.EXISTS and value is not None and not isinstance(value, bool):
        errors.append(
            FieldError(field=f"{field}.value", reason="'exists' takes true, false or no value")
        )
    return errors


def _combinator_errors(pred: Predicate, field: str) -> list[FieldError]:
    errors: list[FieldError] = []
    if pred.path is not None:
        errors.append(FieldError(field=f"{field}.path", reason=f"'{pred.op}' takes no path"))
    if pred.value is not None:
        errors.append(FieldError(field=f"{field}.value", reason=f"'{pred.op}' takes no value"))
    if not pred.of:
        errors.append(FieldError(field=f"{field}.of", reason=f"'{pred.op}' needs sub-predicates"))
        return errors
    if pred.op is PredicateOp.NOT and len(pred.of) != 1:
        errors.append(
            FieldError(
                field=f"{field}.of",
                reason=f"'not' takes exactly one predicate, got {len(pred.of)}",
            )
        )
    for i, sub in enumerate(pred.of):
        errors.extend(predicate_errors(sub, f"{field}.of[{i}]"))
    return errors


def _outgoing_errors(node: DecisionNode, outgoing: list[Connector]) -> list[FieldError]:
    errors: list[FieldError] = []
    seen: set[str] = set()
    for i, conn in enumerate(outgoing):
        if conn.id in seen:
            errors.append(
                FieldError(field=f"outgoing[{i}].id", reason=f"duplicate connector id {conn.id!r}")
            )
        seen.add(conn.id)
        if conn.source != node.id:
            errors.append(
                FieldError(
                    field=f"outgoing[{i}].source",
                    reason=f"connector {conn.id!r} does not start at node {node.id!r}",
                )
            )
    if not any(c.kind is ConnectorKind.SOLID for c in outgoing):
        errors.append(
            FieldError(
                field="outgoing", reason="a decision needs at least one solid outgoing connector"
            )
        )
    return errors


def validate_connector_conditions(
    node: DecisionNode, outgoing: list[Connector]
) -> ConditionValidation:
    """Validate ``node``'s conditions against its outgoing connectors and sync them.

    Errors (field paths relative to the node, or ``outgoing[...]``): a condition naming a
    connector that is not a solid outgoing one, duplicate condition connectors, a condition
    with neither predicate nor text, structurally invalid predicates (including bad regexes),
    a ``fallback`` policy without a solid outgoing fallback connector, and malformed
    ``outgoing`` lists.

    The repair keeps, in outgoing order, the first condition of each solid outgoing connector
    and drops the rest with a warning; a connector left without a condition is only warned
    about (no condition is invented).
    """
    errors = _outgoing_errors(node, outgoing)
    warnings: list[str] = []
    solid: list[str] = []
    for conn in outgoing:
        if conn.kind is ConnectorKind.SOLID and conn.id not in solid:
            solid.append(conn.id)
    dotted = {c.id for c in outgoing if c.kind is ConnectorKind.DOTTED}

    kept: dict[str, DecisionCondition] = {}
    for j, cond in enumerate(node.conditions):
        field = f"conditions[{j}]"
        cid = cond.connector_id
        if cid not in solid:
            why = "is a dotted connector" if cid in dotted else "is not an outgoing connector"
            errors.append(
                FieldError(
                    field=f"{field}.connector_id",
                    reason=f"{cid!r} {why}; conditions need a solid outgoing connector",
                )
            )
            warnings.append(f"condition for connector {cid!r} dropped: {why}")
        elif cid in kept:
            errors.append(
                FieldError(field=f"{field}.connector_id", reason=f"duplicate condition for {cid!r}")
            )
            warnings.append(f"duplicate condition for connector {cid!r} dropped (first kept)")
        else:
            kept[cid] = cond
        text = cond.text.strip() if cond.text else ""
        if cond.predicate is not None:
            errors.extend(predicate_errors(cond.predicate, f"{field}.predicate"))
        elif not text:
            errors.append(FieldError(field=field, reason="a condition needs a predicate or text"))
        elif parse_condition_text(cond.text or "") is None:
            warnings.append(
                f"condition for connector {cid!r}: text {text!r} cannot be parsed into a "
                "predicate; unless it equals the upstream route_key, it will be matched "
                "heuristically and marked fallback_used"
            )

    fallback = node.fallback_connector_id
    if node.no_match_policy is NoMatchPolicy.FALLBACK:
        if fallback is None:
            errors.append(
                FieldError(
                    field="fallback_connector_id", reason="fallback policy needs a connector"
                )
            )
        elif fallback not in solid:
            errors.append(
                FieldError(
                    field="fallback_connector_id",
                    reason=f"{fallback!r} is not one of this decision's solid outgoing connectors",
                )
            )
    elif fallback is not None:
        warnings.append(
            f"fallback connector {fallback!r} is ignored: no_match_policy is {node.no_match_policy}"
        )

    repaired: list[DecisionCondition] = []
    for cid in solid:
        if cid in kept:
            repaired.append(kept[cid])
        elif node.no_match_policy is NoMatchPolicy.FALLBACK and cid == fallback:
            warnings.append(f"connector {cid!r} has no condition; it fires only as the fallback")
        else:
            warnings.append(f"connector {cid!r} has no condition and will never match")
    return ConditionValidation(
        valid=not errors, errors=errors, repaired_conditions=repaired, warnings=warnings
    )
