"""REST handlers for node-run artifacts: ``/api/v1/runs/{run_id}/artifacts``."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get
from litestar.params import FromPath, QueryParameter

from llmctl_contracts import ErrorBody, ErrorCode
from llmctl_contracts.artifacts import ArtifactKind, ArtifactRecord, ListArtifacts
from llmctl_contracts.rpc import GetById
from llmctl_libs.rpc import RpcError

from .context import request_ids
from .routes import _errors, _orchestrator

__all__ = ["ARTIFACT_ROUTE_HANDLERS", "ArtifactResponse", "ArtifactsResponse"]

MAX_ARTIFACTS_PAGE = 1000


class ArtifactsResponse(msgspec.Struct, frozen=True, kw_only=True):
    """Success envelope around a page of a run's artifacts, oldest node run first."""

    ok: bool
    data: list[ArtifactRecord]
    correlation_id: str


class ArtifactResponse(msgspec.Struct, frozen=True, kw_only=True):
    """Success envelope around one artifact."""

    ok: bool
    data: ArtifactRecord
    correlation_id: str


@get(
    "/runs/{run_id:str}/artifacts",
    summary="List a run's node-run artifacts",
    responses=_errors(400, 404, 422, 503, 504),
)
async def list_artifacts(
    request: Request[Any, Any, Any],
    run_id: FromPath[str],
    node_run_id: Annotated[
        str | None, QueryParameter(description="Only this node run's artifact")
    ] = None,
    kind: Annotated[ArtifactKind | None, QueryParameter(description="Only this kind")] = None,
    include_content: Annotated[
        bool, QueryParameter(description="false lists metadata only")
    ] = True,
    limit: Annotated[int, QueryParameter(ge=1, le=MAX_ARTIFACTS_PAGE)] = 200,
    offset: Annotated[int, QueryParameter(ge=0)] = 0,
) -> Response[ArtifactsResponse]:
    """One final-state artifact per finished node run, typed by node kind."""
    records: list[ArtifactRecord] = await _orchestrator(
        request,
        "run.artifacts",
        ListArtifacts(
            run_id=run_id,
            node_run_id=node_run_id,
            kind=kind,
            include_content=include_content,
            limit=limit,
            offset=offset,
        ),
        list[ArtifactRecord],
    )
    ids = request_ids(request.scope)
    return Response(ArtifactsResponse(ok=True, data=records, correlation_id=ids.correlation_id))


@get(
    "/runs/{run_id:str}/artifacts/{artifact_id:str}",
    summary="Get one artifact (by artifact id or node run id)",
    responses=_errors(400, 404, 503, 504),
)
async def get_artifact(
    request: Request[Any, Any, Any], run_id: FromPath[str], artifact_id: FromPath[str]
) -> Response[ArtifactResponse]:
    """The artifact with its content; 404 when it is not one of this run's."""
    record: ArtifactRecord = await _orchestrator(
        request, "artifact.get", GetById(id=artifact_id), ArtifactRecord
    )
    if record.run_id != run_id:
        reason = f"run {run_id!r} has no artifact {artifact_id!r}"
        raise RpcError(
            ErrorBody.for_field(ErrorCode.NOT_FOUND, "path.artifact_id", reason, message=reason)
        )
    ids = request_ids(request.scope)
    return Response(ArtifactResponse(ok=True, data=record, correlation_id=ids.correlation_id))


ARTIFACT_ROUTE_HANDLERS = [list_artifacts, get_artifact]
"""Artifact handlers, mounted under ``/api/v1``."""
