"""Router request/reply operations: decision-condition validation and dry-run routing.

Served by the router on ``subjects.rpc("router", "connector_conditions.validate")`` and
``subjects.rpc("router", "next_nodes.resolve")``.
"""

from __future__ import annotations

from typing import Any

import msgspec

from .errors import FieldError
from .flowchart import Connector, DecisionCondition, DecisionNode, Node
from .routing import RoutingState

__all__ = [
    "ConditionValidation",
    "NextNodes",
    "ResolveNextNodes",
    "ValidateConnectorConditions",
]


class ValidateConnectorConditions(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True
):
    """Check a decision node's conditions against its outgoing connectors.

    Attributes:
        node: The decision node as it would be saved (``type`` may be omitted).
        outgoing: The node's outgoing connectors, in canvas order; only solid connectors can
            carry conditions, dotted ones are ignored for routing.
    """

    node: DecisionNode
    outgoing: list[Connector]


class ConditionValidation(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Result of validating a decision node's conditions.

    Attributes:
        valid: ``True`` when ``errors`` is empty (warnings do not make it invalid).
        errors: Field-level problems. Fields are relative to the decision node
            (``conditions[0].predicate.path``, ``fallback_connector_id``) or name the request's
            ``outgoing`` list (``outgoing``, ``outgoing[1].source``).
        repaired_conditions: The conditions synced with the solid outgoing connectors: one per
            connector that still exists, in outgoing order; conditions for removed, dotted or
            duplicated connectors are dropped. No condition is ever invented.
        warnings: Human-readable notes: dropped conditions, connectors without a condition,
            free-text conditions that will use the heuristic (``fallback_used``), ignored
            settings.
    """

    valid: bool
    errors: list[FieldError] = msgspec.field(default_factory=list)
    repaired_conditions: list[DecisionCondition] = msgspec.field(default_factory=list)
    warnings: list[str] = msgspec.field(default_factory=list)


class ResolveNextNodes(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Dry-run routing of a node with a given output; nothing is persisted or announced.

    Attributes:
        node: The node that finished (any kind).
        output: Its output, visible to predicates as ``output.*``.
        context: Its input context (e.g. ``latest_upstream``), visible at the top level.
        outgoing: The node's outgoing connectors; dotted ones never fire and are ignored.
    """

    node: Node
    outgoing: list[Connector]
    output: dict[str, Any] = msgspec.field(default_factory=dict)
    context: dict[str, Any] = msgspec.field(default_factory=dict)


class NextNodes(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where a node's tokens would go.

    Attributes:
        routing_state: The routing decision exactly as the router would record it.
        target_node_ids: Targets of the fired connectors, in firing order, each listed once.
    """

    routing_state: RoutingState
    target_node_ids: list[str] = msgspec.field(default_factory=list)
