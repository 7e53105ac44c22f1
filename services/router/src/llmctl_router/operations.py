"""The router's request/reply operations: condition validation and dry-run routing."""

from __future__ import annotations

from llmctl_contracts import ErrorBody, ErrorCode, FieldError
from llmctl_contracts.commands import RouteNode
from llmctl_contracts.decision_conditions import validate_connector_conditions
from llmctl_contracts.flowchart import ConnectorKind
from llmctl_contracts.routing_ops import (
    ConditionValidation,
    NextNodes,
    ResolveNextNodes,
    ValidateConnectorConditions,
)
from llmctl_libs.rpc import RpcError

from .decide import RoutingFailure, decide

__all__ = ["DRY_RUN_NODE_RUN_ID", "resolve_next_nodes", "validate_conditions"]

DRY_RUN_NODE_RUN_ID = "dry-run"


async def validate_conditions(request: ValidateConnectorConditions) -> ConditionValidation:
    """``connector_conditions.validate``: field errors, repaired conditions and warnings."""
    return validate_connector_conditions(request.node, request.outgoing)


async def resolve_next_nodes(request: ResolveNextNodes) -> NextNodes:
    """``next_nodes.resolve``: route ``request.node`` as the router would; persist nothing.

    Dotted connectors are ignored (they never fire).

    Raises:
        RpcError: ``validation_failed`` for a connector that does not start at the node, or
            the body of the :class:`RoutingFailure` (no match under ``fail``, invalid
            conditions).
    """
    bad = [
        FieldError(
            field=f"$.outgoing[{i}].source",
            reason=f"connector {c.id!r} does not start at node {request.node.id!r}",
        )
        for i, c in enumerate(request.outgoing)
        if c.source != request.node.id
    ]
    if bad:
        raise RpcError(
            ErrorBody(
                code=ErrorCode.VALIDATION_FAILED,
                message=f"invalid ResolveNextNodes: {bad[0].field}: {bad[0].reason}",
                details=bad,
            )
        )
    solid = [c for c in request.outgoing if c.kind is ConnectorKind.SOLID]
    command = RouteNode(
        node_run_id=DRY_RUN_NODE_RUN_ID,
        node=request.node,
        output=request.output,
        context=request.context,
        outgoing=solid,
    )
    try:
        state = decide(command)
    except RoutingFailure as failure:
        raise RpcError(failure.body) from failure
    target_of = {c.id: c.target for c in solid}
    targets: list[str] = []
    for connector_id in state.matched_connector_ids:
        target = target_of[connector_id]
        if target not in targets:
            targets.append(target)
    return NextNodes(routing_state=state, target_node_ids=targets)
