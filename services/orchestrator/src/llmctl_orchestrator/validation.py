"""Save-time validation of flowchart definitions, as field-level errors."""

from __future__ import annotations

from collections import deque

import msgspec

from llmctl_contracts import FieldError
from llmctl_contracts.codec import field_error_from_msgspec
from llmctl_contracts.decision_conditions import validate_connector_conditions
from llmctl_contracts.flowchart import (
    Connector,
    ConnectorKind,
    DecisionNode,
    EndNode,
    FanInMode,
    FlowchartDefinition,
    MemoryNode,
    MilestoneNode,
    PlanNode,
    StartNode,
)
from llmctl_contracts.special_nodes import special_node_config_type

__all__ = ["clamp_fan_in", "sync_decision_conditions", "validate_flowchart"]


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
    outgoing: dict[str, list[Connector]] = {node_id: [] for node_id in node_index}
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
        outgoing[conn.source].append(conn)
        if conn.kind is ConnectorKind.SOLID:
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
            errors.extend(_decision_errors(node, field, outgoing[node_id]))
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


def _decision_errors(node: DecisionNode, field: str, outgoing: list[Connector]) -> list[FieldError]:
    """The router's rules for a decision's conditions (``connector_conditions.validate``),
    located in the flowchart. Problems of the connectors themselves (duplicate ids) are
    reported once, by the flowchart-wide checks."""
    errors = []
    for error in validate_connector_conditions(node, outgoing).errors:
        if error.field == "outgoing":
            errors.append(FieldError(field=field, reason=error.reason))
        elif not error.field.startswith("outgoing["):
            errors.append(FieldError(field=f"{field}.{error.field}", reason=error.reason))
    return errors


def sync_decision_conditions(
    definition: FlowchartDefinition,
) -> tuple[FlowchartDefinition, list[FieldError]]:
    """Keep every decision's conditions in sync with its solid outgoing connectors.

    The seed's rule (automatic sync/repair between solid outgoing connectors and decision
    conditions), applied on every save: a condition whose connector no longer exists in the
    flowchart (it was deleted) is dropped with a warning, and a valid decision's conditions
    are stored in the order of its outgoing connectors, as ``connector_conditions.validate``
    repairs them. Anything else that does not fit (a condition naming a dotted connector or one
    of another node, two conditions for one connector) is left for :func:`validate_flowchart`
    to refuse, since no repair can tell what was meant.

    A decision the repair cannot make valid is left exactly as written (stale conditions
    included), so that the errors :func:`validate_flowchart` reports index the document that
    was sent.

    Returns:
        The (possibly) repaired definition and its warnings: dropped conditions, connectors
        without a condition, free-text conditions that will be matched heuristically.
    """
    connector_ids = {c.id for c in definition.connectors}
    outgoing: dict[str, list[Connector]] = {}
    for conn in definition.connectors:
        outgoing.setdefault(conn.source, []).append(conn)
    warnings: list[FieldError] = []
    nodes = []
    for i, node in enumerate(definition.nodes):
        if isinstance(node, DecisionNode):
            node = _synced(
                node, f"$.nodes[{i}]", connector_ids, outgoing.get(node.id, []), warnings
            )
        nodes.append(node)
    if nodes == definition.nodes:
        return definition, warnings
    return msgspec.structs.replace(definition, nodes=nodes), warnings


def _synced(
    node: DecisionNode,
    field: str,
    connector_ids: set[str],
    outgoing: list[Connector],
    warnings: list[FieldError],
) -> DecisionNode:
    kept = [cond for cond in node.conditions if cond.connector_id in connector_ids]
    result = validate_connector_conditions(msgspec.structs.replace(node, conditions=kept), outgoing)
    if not result.valid:
        # left as written, so the errors validate_flowchart reports index what was sent
        return node
    warnings.extend(
        FieldError(
            field=f"{field}.conditions[{j}].connector_id",
            reason=f"condition dropped: connector {cond.connector_id!r} no longer exists",
        )
        for j, cond in enumerate(node.conditions)
        if cond.connector_id not in connector_ids
    )
    warnings.extend(
        FieldError(field=f"{field}.conditions", reason=note) for note in result.warnings
    )
    return msgspec.structs.replace(node, conditions=result.repaired_conditions)


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
