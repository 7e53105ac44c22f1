"""Which outgoing solid connectors of a finished node run fire."""

from __future__ import annotations

from typing import Any

from llmctl_contracts import ConnectorEvaluation, ErrorBody, ErrorCode, FieldError, RoutingState
from llmctl_contracts.commands import RouteNode
from llmctl_contracts.decision_conditions import parse_condition_text
from llmctl_contracts.flowchart import DecisionNode, EndNode, MilestoneNode, NoMatchPolicy
from llmctl_contracts.routing import EvaluationMethod

from .legacy import heuristic_match
from .paths import MISSING, resolve_path
from .predicates import PredicateError, evaluate

__all__ = ["RoutingFailure", "decide"]


class RoutingFailure(Exception):
    """Routing cannot be resolved; the node (and run) fails fast."""

    def __init__(self, body: ErrorBody, state: RoutingState) -> None:
        super().__init__(body.message)
        self.body = body
        self.state = state


def _route_key(document: dict[str, Any]) -> str | None:
    for path in ("output.route_key", "latest_upstream.output.route_key"):
        value = resolve_path(document, path)
        if value is not MISSING and isinstance(value, str):
            return value
    return None


def _names_route_key(text: str, route_key: str) -> bool:
    return text.strip().lower() == route_key.strip().lower()


def decide(command: RouteNode) -> RoutingState:
    """Decide routing for one node run.

    Non-decision nodes fire every outgoing solid connector; an end node terminates the run, and
    so does a milestone node whose output says ``terminate_run: true`` (its loop rules).
    Decision nodes fire every connector whose condition matches; with none, the fallback
    connector (policy ``fallback``) or a failure (policy ``fail``).

    Raises:
        RoutingFailure: no match under ``fail``, an unknown connector, or a predicate error.
    """
    node = command.node
    outgoing = [c.id for c in command.outgoing]
    document = {**command.context, "output": command.output}
    route_key = _route_key(document)
    if not isinstance(node, DecisionNode):
        return RoutingState(
            matched_connector_ids=outgoing,
            route_key=route_key,
            evaluations=[
                ConnectorEvaluation(
                    connector_id=c, matched=True, method="always", reason="solid connector"
                )
                for c in outgoing
            ],
            terminate_run=isinstance(node, EndNode)
            or (isinstance(node, MilestoneNode) and command.output.get("terminate_run") is True),
        )
    evaluations: list[ConnectorEvaluation] = []
    matched: list[str] = []
    fallback_used = False
    by_connector = {cond.connector_id: cond for cond in node.conditions}
    for cond in node.conditions:
        if cond.connector_id not in outgoing:
            raise RoutingFailure(
                ErrorBody(
                    code=ErrorCode.VALIDATION_FAILED,
                    message=f"condition names unknown connector {cond.connector_id!r}",
                    details=[
                        FieldError(field="conditions.connector_id", reason="unknown connector")
                    ],
                ),
                RoutingState(route_key=route_key, evaluations=evaluations),
            )
    for connector_id in outgoing:
        condition = by_connector.get(connector_id)
        if condition is None:
            evaluations.append(
                ConnectorEvaluation(
                    connector_id=connector_id,
                    matched=False,
                    method="predicate",
                    reason="no condition",
                )
            )
            continue
        predicate = condition.predicate
        method: EvaluationMethod = "predicate"
        if predicate is None and condition.text:
            predicate = parse_condition_text(condition.text)
            method = "parsed_text"
        if predicate is not None:
            try:
                ok = evaluate(predicate, document)
            except PredicateError as exc:
                raise RoutingFailure(
                    ErrorBody.for_field(
                        ErrorCode.VALIDATION_FAILED,
                        f"conditions[{connector_id}]",
                        str(exc),
                        message=f"condition on {connector_id!r} is invalid: {exc}",
                    ),
                    RoutingState(route_key=route_key, evaluations=evaluations),
                ) from exc
            reason = (
                f"{predicate.op.value} on {predicate.path!r}"
                if predicate.path
                else predicate.op.value
            )
            evaluations.append(
                ConnectorEvaluation(
                    connector_id=connector_id, matched=ok, method=method, reason=reason
                )
            )
        elif route_key is not None and _names_route_key(condition.text or "", route_key):
            # the legacy route-key form: deterministic, not a heuristic
            ok = True
            evaluations.append(
                ConnectorEvaluation(
                    connector_id=connector_id,
                    matched=True,
                    method="parsed_text",
                    reason=f"text equals route_key {route_key!r}",
                )
            )
        else:
            ok, reason = heuristic_match(condition.text or "", document)
            fallback_used = True
            evaluations.append(
                ConnectorEvaluation(
                    connector_id=connector_id, matched=ok, method="heuristic", reason=reason
                )
            )
        if ok:
            matched.append(connector_id)
    if matched:
        return RoutingState(
            matched_connector_ids=matched,
            route_key=route_key,
            evaluations=evaluations,
            fallback_used=fallback_used,
        )
    if node.no_match_policy is NoMatchPolicy.FALLBACK and node.fallback_connector_id in outgoing:
        fallback = node.fallback_connector_id
        assert fallback is not None
        evaluations.append(
            ConnectorEvaluation(
                connector_id=fallback,
                matched=True,
                method="fallback",
                reason="no condition matched",
            )
        )
        return RoutingState(
            matched_connector_ids=[fallback],
            route_key=route_key,
            evaluations=evaluations,
            no_match=True,
            fallback_used=fallback_used,
        )
    state = RoutingState(
        route_key=route_key, evaluations=evaluations, no_match=True, fallback_used=fallback_used
    )
    raise RoutingFailure(
        ErrorBody.for_field(
            ErrorCode.CONFLICT,
            "no_match_policy",
            "no condition matched",
            message=f"decision {node.id!r}: no condition matched and no fallback connector",
        ),
        state,
    )
