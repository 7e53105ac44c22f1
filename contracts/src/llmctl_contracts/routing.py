"""Routing state persisted for every finished node run."""

from __future__ import annotations

from typing import Literal

import msgspec

__all__ = ["ConnectorEvaluation", "EvaluationMethod", "RoutingState"]

EvaluationMethod = Literal["always", "predicate", "parsed_text", "heuristic", "fallback"]


class ConnectorEvaluation(msgspec.Struct, frozen=True, kw_only=True):
    """How one outgoing connector was judged."""

    connector_id: str
    matched: bool
    method: EvaluationMethod
    reason: str


class RoutingState(msgspec.Struct, frozen=True, kw_only=True):
    """Which outgoing solid connectors of a finished node fire, and why."""

    matched_connector_ids: list[str] = msgspec.field(default_factory=list)
    route_key: str | None = None
    evaluations: list[ConnectorEvaluation] = msgspec.field(default_factory=list)
    no_match: bool = False
    fallback_used: bool = False
    terminate_run: bool = False
