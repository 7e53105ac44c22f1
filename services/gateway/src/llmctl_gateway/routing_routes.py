"""REST handlers for the router's operations under ``/api/v1/routing`` (owned by the router).

What the Studio's node inspector calls while a decision is edited: condition validation with
the connector sync the save applies, and a dry run of where a node's tokens would go.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, post
from litestar.params import JSONBody

from llmctl_contracts.routing_ops import (
    ConditionValidation,
    NextNodes,
    ResolveNextNodes,
    ValidateConnectorConditions,
)

from .context import request_ids
from .routes import _backend, _errors

__all__ = [
    "ROUTING_ROUTE_HANDLERS",
    "ConditionValidationResponse",
    "NextNodesResponse",
    "resolve_next_nodes",
    "validate_connector_conditions",
]

ROUTER = "router"
"""Service that owns routing."""


class ConditionValidationResponse(msgspec.Struct, frozen=True, kw_only=True):
    """Success envelope around a decision's condition validation."""

    ok: bool
    data: ConditionValidation
    correlation_id: str


class NextNodesResponse(msgspec.Struct, frozen=True, kw_only=True):
    """Success envelope around a dry-run routing decision."""

    ok: bool
    data: NextNodes
    correlation_id: str


@post(
    "/routing/conditions/validate",
    summary="Validate a decision's conditions against its outgoing connectors",
    description="The router's `connector_conditions.validate`: field-level `errors` (relative "
    "to the node, or naming `outgoing[i]`), the conditions synced with the solid outgoing "
    "connectors (`repaired_conditions`, in outgoing order) and `warnings`. Always 200 for a "
    "well-formed body; the same rules run when a flowchart is saved.",
    status_code=200,
    responses=_errors(400, 422, 503, 504),
)
async def validate_connector_conditions(
    request: Request[Any, Any, Any], data: JSONBody[ValidateConnectorConditions]
) -> Response[ConditionValidationResponse]:
    """Errors, repaired conditions and warnings of one decision node."""
    verdict: ConditionValidation = await _backend(
        request, ROUTER, "connector_conditions.validate", data, ConditionValidation
    )
    ids = request_ids(request.scope)
    return Response(
        ConditionValidationResponse(ok=True, data=verdict, correlation_id=ids.correlation_id)
    )


@post(
    "/routing/next-nodes",
    summary="Dry-run routing: which connectors of a node would fire",
    description="The router's `next_nodes.resolve`: the `routing_state` the router would "
    "record for the node with this output and context, and the target nodes. Nothing is "
    "persisted. A decision that would fail (no match under `fail`, an invalid condition) is "
    "answered with the error the run would get.",
    status_code=200,
    responses=_errors(400, 409, 422, 503, 504),
)
async def resolve_next_nodes(
    request: Request[Any, Any, Any], data: JSONBody[ResolveNextNodes]
) -> Response[NextNodesResponse]:
    """Where the node's tokens would go."""
    result: NextNodes = await _backend(request, ROUTER, "next_nodes.resolve", data, NextNodes)
    ids = request_ids(request.scope)
    return Response(NextNodesResponse(ok=True, data=result, correlation_id=ids.correlation_id))


ROUTING_ROUTE_HANDLERS = [validate_connector_conditions, resolve_next_nodes]
