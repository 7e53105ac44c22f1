"""REST handlers for flowcharts under ``/api/v1/flowcharts`` (owned by the orchestrator)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, delete, get, post, put
from litestar.openapi.spec import Reference, Schema
from litestar.params import FromPath, HeaderParameter, Parameter, QueryParameter

from llmctl_contracts import ContractError, decode_strict
from llmctl_contracts.flowchart import FlowchartDefinition
from llmctl_contracts.rpc import (
    MAX_PAGE_SIZE,
    CreateFlowchart,
    DeleteFlowchart,
    FlowchartPage,
    FlowchartRecord,
    FlowchartSummary,
    FlowchartValidation,
    FlowchartVersionSummary,
    GetById,
    GetFlowchartVersion,
    ListFlowcharts,
    UpdateFlowchart,
    ValidateFlowchart,
)

from .context import request_ids
from .routes import (
    IDEMPOTENCY_KEY_HEADER,
    MAX_PAGE,
    MAX_SEQUENCE,
    _errors,
    _json_body,
    _json_bytes,
    _orchestrator,
)
from .schemas import (
    FlowchartDeletedResponse,
    FlowchartPageResponse,
    FlowchartResponse,
    FlowchartSort,
    FlowchartValidationResponse,
    FlowchartVersionsResponse,
)

__all__ = [
    "FLOWCHART_ROUTE_HANDLERS",
    "create_flowchart",
    "delete_flowchart",
    "get_flowchart",
    "get_flowchart_version",
    "list_flowchart_versions",
    "list_flowcharts",
    "update_flowchart",
    "validate_flowchart",
]

MAX_QUERY_LENGTH = 200

_DEFINITION = Reference(ref="#/components/schemas/FlowchartDefinition")
_IDEMPOTENCY_KEY = HeaderParameter(
    name=IDEMPOTENCY_KEY_HEADER,
    required=False,
    min_length=1,
    max_length=255,
    description="Optional. The same key with the same request returns the first result and "
    "changes nothing; the same key with a different request is refused (422 "
    "`idempotency_mismatch`). Without it the request is not deduplicated.",
)
_ID = FromPath[str]


def _definition(raw: bytes) -> FlowchartDefinition:
    return decode_strict(raw, FlowchartDefinition, what="flowchart definition")


@get(
    "/flowcharts",
    summary="List flowcharts",
    description="One page of flowcharts (deleted ones left out) with `total`, the number of "
    "matches in all. `q` matches a case-insensitive substring of the name.",
    responses=_errors(400, 422, 503, 504),
)
async def list_flowcharts(
    request: Request[Any, Any, Any],
    page: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE, description="1-based page")] = 1,
    page_size: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE_SIZE)] = 25,
    q: Annotated[
        str | None, QueryParameter(max_length=MAX_QUERY_LENGTH, description="Name search")
    ] = None,
    sort: Annotated[
        FlowchartSort, QueryParameter(description="Order; a leading `-` sorts descending")
    ] = "name",
) -> Response[FlowchartPageResponse]:
    """A page of flowcharts matching ``q`` in ``sort`` order."""
    result: FlowchartPage = await _orchestrator(
        request,
        "flowchart.list",
        ListFlowcharts(page=page, page_size=page_size, q=q or None, sort=sort),
        FlowchartPage,
    )
    ids = request_ids(request.scope)
    return Response(FlowchartPageResponse(ok=True, data=result, correlation_id=ids.correlation_id))


@post(
    "/flowcharts",
    summary="Create a flowchart",
    description="Validated at save time (errors name the field); adjustments such as a clamped "
    "fan-in count come back as `warnings`.",
    operation_class=_json_body(_DEFINITION, "The flowchart definition"),
    responses=_errors(400, 422, 503, 504),
)
async def create_flowchart(
    request: Request[Any, Any, Any],
    idempotency_key: Annotated[str | None, _IDEMPOTENCY_KEY] = None,
) -> Response[FlowchartResponse]:
    """Validate a flowchart definition and store it as version 1."""
    definition = _definition(await _json_bytes(request))
    ids = request_ids(request.scope)
    record: FlowchartRecord = await _orchestrator(
        request,
        "flowchart.create",
        CreateFlowchart(
            definition=definition, idempotency_key=idempotency_key, request_id=ids.request_id
        ),
        FlowchartRecord,
    )
    return Response(
        FlowchartResponse(ok=True, data=record, correlation_id=ids.correlation_id),
        status_code=201,
    )


@post(
    "/flowcharts/validate",
    summary="Validate a flowchart without saving it",
    description="Always 200 for a JSON body: `valid`, field-level `errors` (schema and graph) "
    "and `warnings`, and the definition as saving would store it. Nothing is saved.",
    status_code=200,
    operation_class=_json_body(
        Schema(
            description="Any JSON document; what keeps it from being a valid definition is "
            "reported in `errors`"
        ),
        "The flowchart definition to check",
    ),
    responses=_errors(400, 503, 504),
)
async def validate_flowchart(
    request: Request[Any, Any, Any],
) -> Response[FlowchartValidationResponse]:
    """What saving the definition would say (errors and warnings)."""
    ids = request_ids(request.scope)
    try:
        definition = _definition(await _json_bytes(request))
    except ContractError as exc:
        if exc.body.code != "validation_failed":
            raise  # not JSON at all: 400 malformed
        verdict = FlowchartValidation(valid=False, errors=exc.body.details, warnings=[])
    else:
        verdict = await _orchestrator(
            request,
            "flowchart.validate",
            ValidateFlowchart(definition=definition),
            FlowchartValidation,
        )
    return Response(
        FlowchartValidationResponse(ok=True, data=verdict, correlation_id=ids.correlation_id)
    )


@get(
    "/flowcharts/{flowchart_id:str}",
    summary="Get a flowchart (latest version)",
    responses=_errors(400, 404, 503, 504),
)
async def get_flowchart(
    request: Request[Any, Any, Any], flowchart_id: _ID
) -> Response[FlowchartResponse]:
    """The latest version of a flowchart."""
    record: FlowchartRecord = await _orchestrator(
        request, "flowchart.get", GetById(id=flowchart_id), FlowchartRecord
    )
    ids = request_ids(request.scope)
    return Response(FlowchartResponse(ok=True, data=record, correlation_id=ids.correlation_id))


@put(
    "/flowcharts/{flowchart_id:str}",
    summary="Save a new version of a flowchart",
    description="Stores the definition as the next version (earlier versions are kept and "
    "runs stay pinned to theirs); validated like create, with the same `warnings`.",
    operation_class=_json_body(_DEFINITION, "The new definition"),
    responses=_errors(400, 404, 422, 503, 504),
)
async def update_flowchart(
    request: Request[Any, Any, Any],
    flowchart_id: _ID,
    idempotency_key: Annotated[str | None, _IDEMPOTENCY_KEY] = None,
) -> Response[FlowchartResponse]:
    """Save a new version of a flowchart."""
    definition = _definition(await _json_bytes(request))
    ids = request_ids(request.scope)
    record: FlowchartRecord = await _orchestrator(
        request,
        "flowchart.update",
        UpdateFlowchart(
            id=flowchart_id,
            definition=definition,
            idempotency_key=idempotency_key,
            request_id=ids.request_id,
        ),
        FlowchartRecord,
    )
    return Response(FlowchartResponse(ok=True, data=record, correlation_id=ids.correlation_id))


@delete(
    "/flowcharts/{flowchart_id:str}",
    summary="Delete a flowchart",
    description="The flowchart disappears from reads and no new run can start from it (404). "
    "Its versions are kept: runs already started carry on, can be listed, read and controlled.",
    status_code=200,
    responses=_errors(400, 404, 422, 503, 504),
)
async def delete_flowchart(
    request: Request[Any, Any, Any],
    flowchart_id: _ID,
    idempotency_key: Annotated[str | None, _IDEMPOTENCY_KEY] = None,
) -> Response[FlowchartDeletedResponse]:
    """Delete a flowchart (its versions stay for existing runs)."""
    ids = request_ids(request.scope)
    summary: FlowchartSummary = await _orchestrator(
        request,
        "flowchart.delete",
        DeleteFlowchart(
            id=flowchart_id, idempotency_key=idempotency_key, request_id=ids.request_id
        ),
        FlowchartSummary,
    )
    return Response(
        FlowchartDeletedResponse(ok=True, data=summary, correlation_id=ids.correlation_id)
    )


@get(
    "/flowcharts/{flowchart_id:str}/versions",
    summary="List a flowchart's versions",
    responses=_errors(400, 404, 503, 504),
)
async def list_flowchart_versions(
    request: Request[Any, Any, Any], flowchart_id: _ID
) -> Response[FlowchartVersionsResponse]:
    """Every version of a flowchart, oldest first."""
    versions: list[FlowchartVersionSummary] = await _orchestrator(
        request, "flowchart.versions", GetById(id=flowchart_id), list[FlowchartVersionSummary]
    )
    ids = request_ids(request.scope)
    return Response(
        FlowchartVersionsResponse(ok=True, data=versions, correlation_id=ids.correlation_id)
    )


@get(
    "/flowcharts/{flowchart_id:str}/versions/{version:int}",
    summary="Get one version of a flowchart",
    responses=_errors(400, 404, 422, 503, 504),
)
async def get_flowchart_version(
    request: Request[Any, Any, Any],
    flowchart_id: _ID,
    version: Annotated[int, Parameter(ge=1, le=MAX_SEQUENCE)],
) -> Response[FlowchartResponse]:
    """One stored version of a flowchart."""
    record: FlowchartRecord = await _orchestrator(
        request,
        "flowchart.version",
        GetFlowchartVersion(id=flowchart_id, version=version),
        FlowchartRecord,
    )
    ids = request_ids(request.scope)
    return Response(FlowchartResponse(ok=True, data=record, correlation_id=ids.correlation_id))


FLOWCHART_ROUTE_HANDLERS = [
    list_flowcharts,
    create_flowchart,
    validate_flowchart,
    get_flowchart,
    update_flowchart,
    delete_flowchart,
    list_flowchart_versions,
    get_flowchart_version,
]
"""Every flowchart handler, mounted under ``/api/v1``."""
