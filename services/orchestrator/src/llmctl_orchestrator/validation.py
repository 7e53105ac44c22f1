"""Save-time validation of flowchart definitions, as field-level errors."""

from __future__ import annotations

from collections import deque

import msgspec

from llmctl_contracts import FieldError
from llmctl_contracts.codec import field_error_from_msgspec
from llmctl_contracts.flowchart import (
    ConnectorKind,
    DecisionNode,
    EndNode,
    FanInMode,
    FlowchartDefinition,
    MemoryNode,
    MilestoneNode,
    NoMatchPolicy,
    PlanNode,
    Predicate,
    PredicateOp,
    StartNode,
)
from llmctl_contracts.special_nodes import special_node_config_type

__all__ = ["clamp_fan_in", "validate_flowchart"]

_COMPARISONS = {
    op for op in PredicateOp if op not in (PredicateOp.ALL, PredicateOp.ANY, PredicateOp.NOT)
}


def _predicate_errors(pred: Predicate, field: str) -> list[FieldError]:
    if pred.op in _COMPARISONS:
        errors = []
        if not pred.path:
            errors.append(FieldError(field=f"{field}.path", reason=f"'{pred.op}' needs a path"))
        if pred.of:
            errors.append(FieldError(field=f"{field}.of", reason=f"'{pred.op}' takes no 'of'"))
        if pred.op is PredicateOp.IN and not isinstance(pred.value, list):
            errors.append(FieldError(field=f"{field}.value", reason="'in' needs a list value"))
        return errors
    if not pred.of:
        return [FieldError(field=f"{field}.of", reason=f"'{pred.op}' needs sub-predicates")]
    if pred.op is PredicateOp.NOT and len(pred.of) != 1:
        return [FieldError(field=f"{field}.of", reason="'not' takes exactly one predicate")]
    errors = []
    for i, sub in enumerate(pred.of):
        errors.extend(_predicate_errors(sub, f"{field}.of[{i}]"))
    return errors


def validate_flowchart(definition: FlowchartDefinition) -> list[FieldError]:
    """Check graph invariants the schema alone cannot express.

    Returns:
        Field-level errors; empty when the flowchart can be saved.
    """
    errors: list[FieldError] = []
    node_index: dict[str, int] = {}
    for i, node in enumerate(definition.nodes):
        if node.id in node_index:
            errors.append(
                FieldError(field=f"$.nodes[{i}].id", reason=f"duplicate node id {node.id!r}")
            )
        node_index.setdefault(node.id, i)
    starts = [i for i, n in enumerate(definition.nodes) if isinstance(n, StartNode)]
    if len(starts) != 1:
        errors.append(
            FieldError(
                field="$.nodes", reason=f"exactly one start node required, found {len(starts)}"
            )
        )
    seen_connectors: set[str] = set()
    pairs: dict[tuple[str, str], ConnectorKind] = {}
    solid_out: dict[str, list[str]] = {node_id: [] for node_id in node_index}
    solid_adj: dict[str, list[str]] = {node_id: [] for node_id in node_index}
    for i, conn in enumerate(definition.connectors):
        field = f"$.connectors[{i}]"
        if conn.id in seen_connectors:
            errors.append(
                FieldError(field=f"{field}.id", reason=f"duplicate connector id {conn.id!r}")
            )
        seen_connectors.add(conn.id)
        for end in ("source", "target"):
            if getattr(conn, end) not in node_index:
                errors.append(
                    FieldError(
                        field=f"{field}.{end}", reason=f"unknown node {getattr(conn, end)!r}"
                    )
                )
        if conn.source not in node_index or conn.target not in node_index:
            continue
        previous = pairs.setdefault((conn.source, conn.target), conn.kind)
        if previous is not conn.kind:
            errors.append(
                FieldError(field=f"{field}.kind", reason="one source/target pair cannot mix kinds")
            )
        source_node = definition.nodes[node_index[conn.source]]
        if isinstance(source_node, EndNode):
            errors.append(
                FieldError(field=f"{field}.source", reason="an end node has no outgoing connectors")
            )
        if conn.kind is ConnectorKind.SOLID:
            solid_out[conn.source].append(conn.id)
            solid_adj[conn.source].append(conn.target)
    solid_parents: dict[str, set[str]] = {node_id: set() for node_id in node_index}
    for conn in definition.connectors:
        if (
            conn.kind is ConnectorKind.SOLID
            and conn.target in solid_parents
            and conn.source in node_index
        ):
            solid_parents[conn.target].add(conn.source)
    for node_id, i in node_index.items():
        node = definition.nodes[i]
        field = f"$.nodes[{i}]"
        parents = len(solid_parents[node_id])
        if node.fan_in.mode is FanInMode.CUSTOM:
            if node.fan_in.count is None:
                errors.append(
                    FieldError(field=f"{field}.fan_in.count", reason="custom fan-in needs a count")
                )
            elif parents and node.fan_in.count > parents:  # clamp_fan_in runs first on save
                errors.append(
                    FieldError(
                        field=f"{field}.fan_in.count",
                        reason=f"must be between 1 and the {parents} solid upstream connectors",
                    )
                )
        if isinstance(node, DecisionNode):
            errors.extend(_decision_errors(node, field, solid_out[node_id]))
        if isinstance(node, MemoryNode | PlanNode | MilestoneNode):
            errors.extend(_special_config_errors(node, field))
    if len(starts) == 1:
        start_id = definition.nodes[starts[0]].id
        reached = {start_id}
        queue = deque([start_id])
        while queue:
            for nxt in solid_adj[queue.popleft()]:
                if nxt not in reached:
                    reached.add(nxt)
                    queue.append(nxt)
        for node_id, i in node_index.items():
            if node_id not in reached:
                errors.append(
                    FieldError(
                        field=f"$.nodes[{i}]",
                        reason=f"node {node_id!r} is unreachable from start over solid connectors",
                    )
                )
    return errors


def _special_config_errors(
    node: MemoryNode | PlanNode | MilestoneNode, field: str
) -> list[FieldError]:
    """A memory/plan/milestone ``config`` must decode to its typed struct."""
    config_type = special_node_config_type(str(type(node).__struct_config__.tag))
    if config_type is None:
        return []
    try:
        msgspec.convert(node.config, config_type)
    except msgspec.ValidationError as exc:
        detail = field_error_from_msgspec(exc)
        return [FieldError(field=f"{field}.config{detail.field[1:]}", reason=detail.reason)]
    return []


def _decision_errors(node: DecisionNode, field: str, outgoing: list[str]) -> list[FieldError]:
    errors: list[FieldError] = []
    if not outgoing:
        errors.append(
            FieldError(field=field, reason="a decision needs at least one solid outgoing connector")
        )
    seen: set[str] = set()
    for j, cond in enumerate(node.conditions):
        cfield = f"{field}.conditions[{j}]"
        if cond.connector_id not in outgoing:
            errors.append(
                FieldError(
                    field=f"{cfield}.connector_id",
                    reason=f"{cond.connector_id!r} is not a solid outgoing connector here",
                )
            )
        if cond.connector_id in seen:
            errors.append(
                FieldError(field=f"{cfield}.connector_id", reason="duplicate condition connector")
            )
        seen.add(cond.connector_id)
        if cond.predicate is None and not (cond.text and cond.text.strip()):
            errors.append(FieldError(field=cfield, reason="a condition needs a predicate or text"))
        if cond.predicate is not None:
            errors.extend(_predicate_errors(cond.predicate, f"{cfield}.predicate"))
    if node.no_match_policy is NoMatchPolicy.FALLBACK:
        if node.fallback_connector_id is None:
            errors.append(
                FieldError(
                    field=f"{field}.fallback_connector_id",
                    reason="fallback policy needs a connector",
                )
            )
        elif node.fallback_connector_id not in outgoing:
            errors.append(
                FieldError(
                    field=f"{field}.fallback_connector_id",
                    reason="must be one of this decision's solid outgoing connectors",
                )
            )
    return errors


def clamp_fan_in(definition: FlowchartDefinition) -> tuple[FlowchartDefinition, list[FieldError]]:
    """Clamp every ``custom`` fan-in count to its node's number of solid parents.

    The seed's rule for when upstream connectors were removed: the count is lowered to the new
    maximum and the save reports a warning rather than failing.

    Returns:
        The (possibly) adjusted definition and one warning per clamped node.
    """
    node_ids = {node.id for node in definition.nodes}
    parents: dict[str, set[str]] = {node_id: set() for node_id in node_ids}
    for conn in definition.connectors:
        if conn.kind is ConnectorKind.SOLID and conn.target in parents and conn.source in node_ids:
            parents[conn.target].add(conn.source)
    warnings: list[FieldError] = []
    nodes = []
    for i, node in enumerate(definition.nodes):
        count, limit = node.fan_in.count, len(parents[node.id])
        if node.fan_in.mode is FanInMode.CUSTOM and count is not None and limit and count > limit:
            warnings.append(
                FieldError(
                    field=f"$.nodes[{i}].fan_in.count",
                    reason=f"clamped from {count} to {limit}: the node has {limit} solid upstream "
                    "connectors",
                )
            )
            node = msgspec.structs.replace(
                node, fan_in=msgspec.structs.replace(node.fan_in, count=limit)
            )
        nodes.append(node)
    if not warnings:
        return definition, []
    return msgspec.structs.replace(definition, nodes=nodes), warnings
