"""REST route handlers under ``/api/v1``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

from litestar import Request, Response, get, post
from litestar.exceptions import HTTPException
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, Operation, Reference, RequestBody, Schema
from litestar.params import FromPath, HeaderParameter, QueryParameter

from llmctl_contracts import (
    ContractError,
    ErrorBody,
    ErrorCode,
    ErrorEnvelope,
    decode_strict,
)
from llmctl_contracts.rpc import (
    MAX_PAGE_SIZE,
    ControlRun,
    GetById,
    ListNodeRuns,
    ListRunEvents,
    ListRuns,
    NodeRunRecord,
    RunEventRecord,
    RunPage,
    RunRecord,
    StartRun,
)
from llmctl_libs.bus import Bus

from .backend import ORCHESTRATOR, rpc_call
from .context import request_ids
from .health import collect_health
from .openapi import (
    CONTROL_RUN_BODY_SCHEMA,
    NODE_RUN_CONTROL_BODY_SCHEMA,
    NODE_RUN_REASON_BODY_SCHEMA,
    START_RUN_BODY_SCHEMA,
)
from .schemas import (
    ControlRunBody,
    HealthData,
    HealthResponse,
    NodeRunControlBody,
    NodeRunsResponse,
    RunEventsResponse,
    RunPageResponse,
    RunResponse,
    RunSort,
    RunStatusFilter,
    StartRunBody,
)
from .settings import GatewaySettings

__all__ = [
    "IDEMPOTENCY_KEY_HEADER",
    "MAX_PAGE",
    "MAX_SEQUENCE",
    "ROUTE_HANDLERS",
    "cancel_run",
    "get_run",
    "health",
    "list_node_runs",
    "list_run_events",
    "list_runs",
    "pause_run",
    "resume_run",
    "start_run",
]

IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
MAX_EVENTS_PAGE = 1000
MAX_NODE_RUNS_PAGE = 1000
MAX_SEQUENCE = 2**31 - 1
"""Largest sequence or version number a path or query may name (a Postgres integer)."""
MAX_PAGE = 1_000_000
"""Largest page number a list may be asked for."""

_ERROR_CODES = {
    400: "Malformed request (code `malformed`)",
    404: "No such entity or route (code `not_found`)",
    409: "Conflicts with the current state (code `conflict`)",
    422: (
        "Request body or parameter fails validation (`validation_failed`), naming the field; "
        "an `Idempotency-Key` reused with another request (`idempotency_mismatch`)"
    ),
    413: "The request, or one record of the answer, is larger than one bus message (`too_large`)",
    503: "A backend service is unavailable (code `unavailable`)",
    504: "A backend service did not answer in time (code `timeout`)",
}


def _errors(*statuses: int) -> dict[int, ResponseSpec]:
    return {
        status: ResponseSpec(
            data_container=ErrorEnvelope, generate_examples=False, description=_ERROR_CODES[status]
        )
        for status in statuses
    }


def _json_body(
    schema: Schema | Reference, description: str, *, required: bool = True
) -> type[Operation]:
    """An ``Operation`` that documents a JSON body the handler decodes itself."""

    @dataclass
    class JsonBodyOperation(Operation):
        def __post_init__(self) -> None:
            self.request_body = RequestBody(
                content={"application/json": OpenAPIMediaType(schema=schema)},
                description=description,
                required=required,
            )

    return JsonBodyOperation


def _bus(request: Request[Any, Any, Any]) -> Bus | None:
    bus = request.app.state.get("bus")
    return bus if isinstance(bus, Bus) else None


def _settings(request: Request[Any, Any, Any]) -> GatewaySettings:
    settings = request.app.state.get("settings")
    return settings if isinstance(settings, GatewaySettings) else GatewaySettings()


async def _json_bytes(request: Request[Any, Any, Any]) -> bytes:
    content_type = request.headers.get("content-type")
    if content_type and "json" not in content_type.lower():
        raise HTTPException(status_code=415, detail="request body must be application/json")
    return await request.body()


async def _backend(
    request: Request[Any, Any, Any],
    service: str,
    operation: str,
    body: Any,
    result_type: type[Any],
) -> Any:
    """Call ``operation`` of ``service`` on the app's bus, within the gateway's RPC timeout."""
    return await rpc_call(
        _bus(request), service, operation, body, result_type, timeout=_settings(request).rpc_timeout
    )


async def _orchestrator(
    request: Request[Any, Any, Any], operation: str, body: Any, result_type: type[Any]
) -> Any:
    return await _backend(request, ORCHESTRATOR, operation, body, result_type)


@get(
    "/health",
    summary="Health of the gateway and every service",
    responses={503: ResponseSpec(HealthResponse, generate_examples=False, description="Unhealthy")},
)
async def health(request: Request[Any, Any, Any]) -> Response[HealthResponse]:
    """200 when every service (and the gateway's bus connection) is healthy, else 503."""
    settings = _settings(request)
    services = await collect_health(
        _bus(request), settings.services, timeout=settings.health_timeout
    )
    healthy = all(s.healthy for s in services.values())
    body = HealthResponse(
        ok=healthy,
        data=HealthData(services=services),
        correlation_id=request_ids(request.scope).correlation_id,
    )
    return Response(body, status_code=200 if healthy else 503)


@post(
    "/runs",
    summary="Start a run",
    description=(
        "Pins the flowchart's latest version. With an `Idempotency-Key` header, the same key "
        "and body return the same run (201) and start nothing; the same key with another body "
        "is refused (422 `idempotency_mismatch`). Without the header nothing is deduplicated."
    ),
    operation_class=_json_body(START_RUN_BODY_SCHEMA, "Flowchart to run and its input"),
    responses=_errors(400, 404, 409, 422, 503, 504),
)
async def start_run(
    request: Request[Any, Any, Any],
    idempotency_key: Annotated[
        str | None,
        HeaderParameter(
            name=IDEMPOTENCY_KEY_HEADER,
            required=False,
            min_length=1,
            max_length=255,
            description="Optional: the same key and body return the same run",
        ),
    ] = None,
) -> Response[RunResponse]:
    """Start a run of a flowchart (idempotent by ``Idempotency-Key``)."""
    body = decode_strict(await _json_bytes(request), StartRunBody, what="run request")
    ids = request_ids(request.scope)
    record: RunRecord = await _orchestrator(
        request,
        "run.start",
        StartRun(
            flowchart_id=body.flowchart_id,
            input=body.input,
            idempotency_key=idempotency_key,
            request_id=ids.request_id,
            correlation_id=ids.correlation_id,
        ),
        RunRecord,
    )
    return Response(
        RunResponse(ok=True, data=record, correlation_id=ids.correlation_id), status_code=201
    )


@get(
    "/runs",
    summary="List runs",
    description="One page of runs, newest first by default, with `total`, the number of "
    "matches in all; filter by `flowchart_id` (runs of deleted flowcharts included) and "
    "`status`.",
    responses=_errors(400, 422, 503, 504),
)
async def list_runs(
    request: Request[Any, Any, Any],
    flowchart_id: Annotated[str | None, QueryParameter(min_length=1, max_length=128)] = None,
    status: Annotated[RunStatusFilter | None, QueryParameter(description="Run status")] = None,
    page: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE, description="1-based page")] = 1,
    page_size: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE_SIZE)] = 25,
    sort: Annotated[
        RunSort, QueryParameter(description="Order; a leading `-` sorts descending")
    ] = "-created_at",
) -> Response[RunPageResponse]:
    """A page of runs matching the filters."""
    result: RunPage = await _orchestrator(
        request,
        "run.list",
        ListRuns(
            flowchart_id=flowchart_id, status=status, page=page, page_size=page_size, sort=sort
        ),
        RunPage,
    )
    ids = request_ids(request.scope)
    return Response(RunPageResponse(ok=True, data=result, correlation_id=ids.correlation_id))


@get("/runs/{run_id:str}", summary="Get a run", responses=_errors(400, 404, 503, 504))
async def get_run(request: Request[Any, Any, Any], run_id: FromPath[str]) -> Response[RunResponse]:
    """A run's current projection."""
    record: RunRecord = await _orchestrator(request, "run.get", GetById(id=run_id), RunRecord)
    ids = request_ids(request.scope)
    return Response(RunResponse(ok=True, data=record, correlation_id=ids.correlation_id))


@get(
    "/runs/{run_id:str}/node-runs",
    summary="List a run's node runs",
    responses=_errors(400, 404, 413, 422, 503, 504),
)
async def list_node_runs(
    request: Request[Any, Any, Any],
    run_id: FromPath[str],
    offset: Annotated[
        int,
        QueryParameter(
            ge=0, le=MAX_SEQUENCE, description="Skip this many node runs (activation order)"
        ),
    ] = 0,
    limit: Annotated[int, QueryParameter(ge=1, le=MAX_NODE_RUNS_PAGE)] = MAX_NODE_RUNS_PAGE,
) -> Response[NodeRunsResponse]:
    """A page of a run's node runs in activation order: up to ``limit``, fewer when they would
    not fit in one answer; page on (``offset`` + the page's length) until a page is empty."""
    records: list[NodeRunRecord] = await _orchestrator(
        request,
        "run.node_runs",
        ListNodeRuns(run_id=run_id, offset=offset, limit=limit),
        list[NodeRunRecord],
    )
    ids = request_ids(request.scope)
    return Response(NodeRunsResponse(ok=True, data=records, correlation_id=ids.correlation_id))


@get(
    "/runs/{run_id:str}/events",
    summary="List a run's events",
    responses=_errors(400, 404, 413, 422, 503, 504),
)
async def list_run_events(
    request: Request[Any, Any, Any],
    run_id: FromPath[str],
    after_sequence: Annotated[
        int, QueryParameter(ge=0, le=MAX_SEQUENCE, description="Only events after this")
    ] = 0,
    limit: Annotated[int, QueryParameter(ge=1, le=MAX_EVENTS_PAGE)] = MAX_EVENTS_PAGE,
) -> Response[RunEventsResponse]:
    """A page of a run's events with ``sequence > after_sequence``, in sequence order."""
    records: list[RunEventRecord] = await _orchestrator(
        request,
        "run.events",
        ListRunEvents(run_id=run_id, after_sequence=after_sequence, limit=limit),
        list[RunEventRecord],
    )
    ids = request_ids(request.scope)
    ordered = sorted(records, key=lambda r: r.sequence)
    return Response(RunEventsResponse(ok=True, data=ordered, correlation_id=ids.correlation_id))


ControlAction = Literal["pause", "resume", "cancel"]

_IDEMPOTENCY_KEY = HeaderParameter(
    name=IDEMPOTENCY_KEY_HEADER,
    required=False,
    min_length=1,
    max_length=255,
    description="Makes the request idempotent: a repeated key returns the run as the first "
    "request left it and changes nothing (default: the request's `X-Request-ID`)",
)
_CONTROL_BODY = "Optional reason, recorded in the run's `run.controlled` event"
_CONTROL_ERRORS = _errors(400, 404, 409, 422, 503, 504)


BodyT = TypeVar("BodyT", ControlRunBody, NodeRunControlBody)


async def _send_control(
    request: Request[Any, Any, Any], idempotency_key: str | None, **control: Any
) -> Response[RunResponse]:
    """Ask the orchestrator to apply a control request (idempotent by ``Idempotency-Key``,
    else ``X-Request-ID``) and answer the run as it left it."""
    ids = request_ids(request.scope)
    record: RunRecord = await _orchestrator(
        request,
        "run.control",
        ControlRun(request_id=idempotency_key or ids.request_id, **control),
        RunRecord,
    )
    return Response(RunResponse(ok=True, data=record, correlation_id=ids.correlation_id))


async def _optional_body(
    request: Request[Any, Any, Any], body_type: type[BodyT], what: str
) -> BodyT:
    """The request's JSON body decoded strictly; an empty body is ``{}``."""
    raw = await _json_bytes(request)
    return decode_strict(raw, body_type, what=what) if raw.strip() else body_type()


async def _control_run(
    request: Request[Any, Any, Any],
    run_id: str,
    action: ControlAction,
    idempotency_key: str | None,
) -> Response[RunResponse]:
    """Decode the optional body, ask the orchestrator to apply ``action``, answer the run."""
    body = await _optional_body(request, ControlRunBody, "control request")
    return await _send_control(
        request, idempotency_key, run_id=run_id, action=action, reason=body.reason
    )


@post(
    "/runs/{run_id:str}/pause",
    summary="Pause a run",
    description=(
        "The run becomes `pausing` and then `paused` once no node run is in flight; queued "
        "activations are held, not dispatched. 409 `conflict` when the run's status does not "
        "allow pausing (e.g. it has finished)."
    ),
    status_code=200,
    operation_class=_json_body(CONTROL_RUN_BODY_SCHEMA, _CONTROL_BODY, required=False),
    responses=_CONTROL_ERRORS,
)
async def pause_run(
    request: Request[Any, Any, Any],
    run_id: FromPath[str],
    idempotency_key: Annotated[str | None, _IDEMPOTENCY_KEY] = None,
) -> Response[RunResponse]:
    """Pause a run (idempotent by ``Idempotency-Key``)."""
    return await _control_run(request, run_id, "pause", idempotency_key)


@post(
    "/runs/{run_id:str}/resume",
    summary="Resume a paused run",
    description=(
        "The run becomes `running` again and its held node runs are dispatched. 409 "
        "`conflict` when the run is not pausing or paused."
    ),
    status_code=200,
    operation_class=_json_body(CONTROL_RUN_BODY_SCHEMA, _CONTROL_BODY, required=False),
    responses=_CONTROL_ERRORS,
)
async def resume_run(
    request: Request[Any, Any, Any],
    run_id: FromPath[str],
    idempotency_key: Annotated[str | None, _IDEMPOTENCY_KEY] = None,
) -> Response[RunResponse]:
    """Resume a run (idempotent by ``Idempotency-Key``)."""
    return await _control_run(request, run_id, "resume", idempotency_key)


@post(
    "/runs/{run_id:str}/cancel",
    summary="Cancel a run",
    description=(
        "The run becomes `cancelled` at once and its open node runs end `cancelled`; late "
        "worker results are ignored. 409 `conflict` when the run has already finished."
    ),
    status_code=200,
    operation_class=_json_body(CONTROL_RUN_BODY_SCHEMA, _CONTROL_BODY, required=False),
    responses=_CONTROL_ERRORS,
)
async def cancel_run(
    request: Request[Any, Any, Any],
    run_id: FromPath[str],
    idempotency_key: Annotated[str | None, _IDEMPOTENCY_KEY] = None,
) -> Response[RunResponse]:
    """Cancel a run (idempotent by ``Idempotency-Key``)."""
    return await _control_run(request, run_id, "cancel", idempotency_key)


NodeRunAction = Literal["retry", "skip", "rewind"]
_NODE_CONTROL_BODY = "Optional reason (and, for skip, the output to route with)"


async def _control_node_run(
    request: Request[Any, Any, Any],
    run_id: str,
    node_run_id: str,
    action: NodeRunAction,
    idempotency_key: str | None,
) -> Response[RunResponse]:
    """Decode the optional body, ask the orchestrator to apply ``action``, answer the run."""
    body = await _optional_body(request, NodeRunControlBody, "node run control request")
    if body.output is not None and action != "skip":
        raise ContractError(
            ErrorBody.for_field(
                ErrorCode.VALIDATION_FAILED,
                "output",
                "only allowed for skip",
                message=f"output is only accepted when skipping, not for {action}",
            )
        )
    return await _send_control(
        request,
        idempotency_key,
        run_id=run_id,
        action=action,
        reason=body.reason,
        node_run_id=node_run_id,
        output=body.output,
    )


@post(
    "/runs/{run_id:str}/node-runs/{node_run_id:str}/retry",
    summary="Retry the node run that failed a run",
    description=(
        "Runs the failed node run again with its recorded input (a new attempt, with a fresh "
        "retry budget); node runs the failure cancelled are queued again and the run continues "
        "`running`. 409 `conflict` unless the run is `failed` and this node run failed it."
    ),
    status_code=200,
    operation_class=_json_body(NODE_RUN_REASON_BODY_SCHEMA, _CONTROL_BODY, required=False),
    responses=_CONTROL_ERRORS,
)
async def retry_node_run(
    request: Request[Any, Any, Any],
    run_id: FromPath[str],
    node_run_id: FromPath[str],
    idempotency_key: Annotated[str | None, _IDEMPOTENCY_KEY] = None,
) -> Response[RunResponse]:
    """Retry a failed node run (idempotent by ``Idempotency-Key``)."""
    return await _control_node_run(request, run_id, node_run_id, "retry", idempotency_key)


@post(
    "/runs/{run_id:str}/node-runs/{node_run_id:str}/skip",
    summary="Skip a node run",
    description=(
        "The node run ends `skipped` and routes on with `output` (default `{}`) as if it had "
        "succeeded. Allowed for the node run that failed a `failed` run (which then continues "
        "`running`) and for a queued, not yet dispatched node run of an active run. 409 "
        "`conflict` otherwise."
    ),
    status_code=200,
    operation_class=_json_body(NODE_RUN_CONTROL_BODY_SCHEMA, _NODE_CONTROL_BODY, required=False),
    responses=_CONTROL_ERRORS,
)
async def skip_node_run(
    request: Request[Any, Any, Any],
    run_id: FromPath[str],
    node_run_id: FromPath[str],
    idempotency_key: Annotated[str | None, _IDEMPOTENCY_KEY] = None,
) -> Response[RunResponse]:
    """Skip a node run (idempotent by ``Idempotency-Key``)."""
    return await _control_node_run(request, run_id, node_run_id, "skip", idempotency_key)


@post(
    "/runs/{run_id:str}/node-runs/{node_run_id:str}/rewind",
    summary="Rewind a run to a node run",
    description=(
        "The run goes back to just before this node run was activated: its state is rebuilt "
        "from the event history as it stood then, later events and the node runs they created "
        "are marked `superseded` (never deleted), and the node runs again. Allowed when the "
        "run is `paused`, `succeeded`, `failed` or `cancelled`; 409 `conflict` otherwise or "
        "when the node run is itself superseded."
    ),
    status_code=200,
    operation_class=_json_body(NODE_RUN_REASON_BODY_SCHEMA, _CONTROL_BODY, required=False),
    responses=_CONTROL_ERRORS,
)
async def rewind_to_node_run(
    request: Request[Any, Any, Any],
    run_id: FromPath[str],
    node_run_id: FromPath[str],
    idempotency_key: Annotated[str | None, _IDEMPOTENCY_KEY] = None,
) -> Response[RunResponse]:
    """Rewind a run to a node run (idempotent by ``Idempotency-Key``)."""
    return await _control_node_run(request, run_id, node_run_id, "rewind", idempotency_key)


ROUTE_HANDLERS = [
    health,
    start_run,
    list_runs,
    get_run,
    list_node_runs,
    list_run_events,
    pause_run,
    resume_run,
    cancel_run,
    retry_node_run,
    skip_node_run,
    rewind_to_node_run,
]
"""Every REST handler, mounted under ``/api/v1``."""
