"""REST handlers for providers, models, provider settings validation and runtime settings.

The gateway keeps no state: each handler asks the models service over NATS. Mutations pass
the ``Idempotency-Key`` header on (same key + same body: same result; other body: 422
``idempotency_mismatch``) and use optimistic versions (409 ``conflict`` when stale).
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, Response, delete, get, patch, post, put
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, HeaderParameter, JSONBody, QueryParameter

from llmctl_contracts import ContractError, ErrorBody, ErrorCode, ErrorEnvelope, FieldError
from llmctl_contracts.models import (
    PROVIDER_NAMES,
    CreateModel,
    DeleteModel,
    GetModel,
    GetProvider,
    ListModels,
    ModelPage,
    ModelRecord,
    ProviderDescriptor,
    ProviderSettingsValidation,
    RuntimeSettings,
    UpdateModel,
    UpdateRuntimeSettings,
    ValidateProviderSettings,
)
from llmctl_libs.rpc import RpcError

from .context import request_ids
from .model_rpc import models_call as _models
from .model_schemas import (
    ModelCreateBody,
    ModelPageResponse,
    ModelResponse,
    ModelUpdateBody,
    ProviderResponse,
    ProviderSettingsValidationResponse,
    ProvidersResponse,
    RuntimeSettingsBody,
    RuntimeSettingsResponse,
    ValidateProviderSettingsBody,
)

__all__ = [
    "MODEL_ROUTE_HANDLERS",
    "create_model",
    "delete_model",
    "get_model",
    "get_provider",
    "get_runtime_settings",
    "list_models",
    "list_providers",
    "update_model",
    "update_runtime_settings",
    "validate_provider_settings",
]

_DESCRIPTIONS = {
    400: "Malformed request (code `malformed`)",
    404: "No such model or provider (code `not_found`)",
    409: "Name/alias taken, stale `expected_version`, or a built-in model (code `conflict`)",
    422: "Validation failed (`validation_failed`) naming the field, or an `Idempotency-Key` "
    "reused with another body (`idempotency_mismatch`)",
    503: "The models service is unavailable (code `unavailable`)",
    504: "The models service did not answer in time (code `timeout`)",
}

_IDEMPOTENCY_KEY = HeaderParameter(
    name="Idempotency-Key",
    required=False,
    min_length=1,
    max_length=255,
    description="The same key with the same body returns the first result and changes "
    "nothing; with another body: 422 `idempotency_mismatch`",
)

IdempotencyKey = Annotated[str | None, _IDEMPOTENCY_KEY]


def _errors(*statuses: int) -> dict[int, ResponseSpec]:
    return {
        s: ResponseSpec(
            data_container=ErrorEnvelope, generate_examples=False, description=_DESCRIPTIONS[s]
        )
        for s in statuses
    }


def _ids(request: Request[Any, Any, Any], idempotency_key: str | None) -> dict[str, Any]:
    ids = request_ids(request.scope)
    return {
        "idempotency_key": idempotency_key,
        "request_id": ids.request_id,
        "correlation_id": ids.correlation_id,
    }


def _correlation(request: Request[Any, Any, Any]) -> str:
    return request_ids(request.scope).correlation_id


@get("/providers", summary="List providers", responses=_errors(503, 504))
async def list_providers(request: Request[Any, Any, Any]) -> Response[ProvidersResponse]:
    """Every provider with every version of its settings schema."""
    data: list[ProviderDescriptor] = await _models(
        request, "provider.list", {}, list[ProviderDescriptor]
    )
    return Response(ProvidersResponse(ok=True, data=data, correlation_id=_correlation(request)))


@get("/providers/{provider:str}", summary="Get a provider", responses=_errors(400, 404, 503, 504))
async def get_provider(
    request: Request[Any, Any, Any], provider: FromPath[str]
) -> Response[ProviderResponse]:
    """One provider (its settings schema versions, oldest first)."""
    if provider not in PROVIDER_NAMES:
        raise RpcError(
            ErrorBody(
                code=ErrorCode.NOT_FOUND,
                message=f"provider {provider!r} not found",
                details=[
                    FieldError(field="path.provider", reason=f"one of {', '.join(PROVIDER_NAMES)}")
                ],
            )
        )
    data = await _models(
        request,
        "provider.get",
        msgspec.convert({"name": provider}, GetProvider),
        ProviderDescriptor,
    )
    return Response(ProviderResponse(ok=True, data=data, correlation_id=_correlation(request)))


_LIST_PARAMS = ("q", "provider", "capability", "sort", "page", "page_size")


@get(
    "/models",
    summary="List models",
    description=(
        "Search (`q`: name, provider model id or alias, case-insensitive), filter by "
        "`provider` and `capability` tag, sort by `name`, `provider`, `created_at` or "
        "`updated_at` (`-` prefix: descending; ties by id), page (`page` from 1, `page_size` "
        "1-100, default 25). A page past the end is empty; `total` counts every match."
    ),
    responses=_errors(400, 422, 503, 504),
)
async def list_models(
    request: Request[Any, Any, Any],
    q: Annotated[str | None, QueryParameter(description="Search text")] = None,
    provider: Annotated[str | None, QueryParameter(description="Provider name")] = None,
    capability: Annotated[str | None, QueryParameter(description="Capability tag")] = None,
    sort: Annotated[str | None, QueryParameter(description="e.g. `name`, `-updated_at`")] = None,
    page: Annotated[str | None, QueryParameter(description="Page number, from 1")] = None,
    page_size: Annotated[str | None, QueryParameter(description="1-100, default 25")] = None,
) -> Response[ModelPageResponse]:
    """A page of models, default name ascending, 25 per page."""
    given = dict(zip(_LIST_PARAMS, (q, provider, capability, sort, page, page_size), strict=True))
    query = {k: v for k, v in given.items() if v is not None}
    try:
        listing = msgspec.convert(query, ListModels, strict=False)
    except msgspec.ValidationError as exc:
        reason, _, where = str(exc).rpartition(" - at `$.")
        name = where.rstrip("`")
        raise ContractError(
            ErrorBody.for_field(
                ErrorCode.VALIDATION_FAILED,
                f"query.{name}",
                reason,
                message=f"invalid query parameter {name}: {reason}",
            )
        ) from exc
    data: ModelPage = await _models(request, "model.list", listing, ModelPage)
    return Response(ModelPageResponse(ok=True, data=data, correlation_id=_correlation(request)))


@post(
    "/models",
    summary="Create a model",
    description="Settings are checked against the provider's current settings schema, which "
    "the model snapshots; the credential reference must be present (its value is never "
    "stored or returned).",
    responses=_errors(400, 409, 422, 503, 504),
)
async def create_model(
    request: Request[Any, Any, Any],
    data: JSONBody[ModelCreateBody],
    idempotency_key: IdempotencyKey = None,
) -> Response[ModelResponse]:
    """Create a model (idempotent by ``Idempotency-Key``)."""
    create = CreateModel(**msgspec.structs.asdict(data), **_ids(request, idempotency_key))
    record: ModelRecord = await _models(request, "model.create", create, ModelRecord)
    return Response(
        ModelResponse(ok=True, data=record, correlation_id=_correlation(request)), status_code=201
    )


@get("/models/{model_id:str}", summary="Get a model", responses=_errors(400, 404, 503, 504))
async def get_model(
    request: Request[Any, Any, Any], model_id: FromPath[str]
) -> Response[ModelResponse]:
    """One model; ``data.drift`` lists provider settings newer than its snapshot."""
    record: ModelRecord = await _models(
        request, "model.get", GetModel(id=model_id), ModelRecord, fields={"id": "path.model_id"}
    )
    return Response(ModelResponse(ok=True, data=record, correlation_id=_correlation(request)))


@patch(
    "/models/{model_id:str}",
    summary="Update a model",
    description="Fields left out stay as they are; `expected_version` must be the model's "
    "current version (else 409). The provider never changes (422 on `body.provider`). "
    "Settings are checked against the model's snapshot schema version unless "
    "`upgrade_settings_schema` moves it to the current one.",
    responses=_errors(400, 404, 409, 422, 503, 504),
)
async def update_model(
    request: Request[Any, Any, Any],
    model_id: FromPath[str],
    data: JSONBody[ModelUpdateBody],
    idempotency_key: IdempotencyKey = None,
) -> Response[ModelResponse]:
    """Update a model (idempotent by ``Idempotency-Key``)."""
    update = UpdateModel(
        id=model_id, **msgspec.structs.asdict(data), **_ids(request, idempotency_key)
    )
    record: ModelRecord = await _models(
        request,
        "model.update",
        update,
        ModelRecord,
        fields={"id": "path.model_id", "$.id": "path.model_id"},
    )
    return Response(ModelResponse(ok=True, data=record, correlation_id=_correlation(request)))


@delete(
    "/models/{model_id:str}",
    summary="Delete a model",
    description="Answers the deleted model. With `expected_version`, a model that has moved "
    "on is not deleted (409).",
    status_code=200,
    responses=_errors(400, 404, 409, 422, 503, 504),
)
async def delete_model(
    request: Request[Any, Any, Any],
    model_id: FromPath[str],
    expected_version: Annotated[int | None, QueryParameter(ge=1)] = None,
    idempotency_key: IdempotencyKey = None,
) -> Response[ModelResponse]:
    """Delete a model (idempotent by ``Idempotency-Key``)."""
    removal = DeleteModel(
        id=model_id, expected_version=expected_version, **_ids(request, idempotency_key)
    )
    record: ModelRecord = await _models(
        request,
        "model.delete",
        removal,
        ModelRecord,
        fields={
            "id": "path.model_id",
            "$.id": "path.model_id",
            "$.expected_version": "query.expected_version",
        },
    )
    return Response(ModelResponse(ok=True, data=record, correlation_id=_correlation(request)))


@post(
    "/models/validate-provider-settings",
    summary="Validate provider settings",
    description="Checks settings and the credential reference against the provider's "
    "current schema (200 with `valid` and field `errors`); `probe: true` also lists the "
    "provider's models when the settings are valid (OpenAI-compatible endpoints only).",
    status_code=200,
    responses=_errors(400, 422, 503, 504),
)
async def validate_provider_settings(
    request: Request[Any, Any, Any], data: JSONBody[ValidateProviderSettingsBody]
) -> Response[ProviderSettingsValidationResponse]:
    """Whether a model with these settings could be created now."""
    check = ValidateProviderSettings(**msgspec.structs.asdict(data))
    result: ProviderSettingsValidation = await _models(
        request, "model.validate_provider_settings", check, ProviderSettingsValidation
    )
    errors = [
        FieldError(
            field="body." + e.field[2:] if e.field.startswith("$.") else e.field, reason=e.reason
        )
        for e in result.errors
    ]
    data_out = msgspec.structs.replace(result, errors=errors)
    return Response(
        ProviderSettingsValidationResponse(
            ok=True, data=data_out, correlation_id=_correlation(request)
        )
    )


@get("/runtime-settings", summary="Get the runtime settings", responses=_errors(503, 504))
async def get_runtime_settings(
    request: Request[Any, Any, Any],
) -> Response[RuntimeSettingsResponse]:
    """Executor images (frontier, vllm) and dispatch defaults; version 0 until first saved."""
    data: RuntimeSettings = await _models(request, "runtime_settings.get", {}, RuntimeSettings)
    return Response(
        RuntimeSettingsResponse(ok=True, data=data, correlation_id=_correlation(request))
    )


@put(
    "/runtime-settings",
    summary="Update the runtime settings",
    description="Sections given (`frontier`, `vllm`, `dispatch`) replace the stored ones; "
    "`expected_version` must be the current version (else 409).",
    responses=_errors(400, 409, 422, 503, 504),
)
async def update_runtime_settings(
    request: Request[Any, Any, Any],
    data: JSONBody[RuntimeSettingsBody],
    idempotency_key: IdempotencyKey = None,
) -> Response[RuntimeSettingsResponse]:
    """Update the runtime settings (idempotent by ``Idempotency-Key``)."""
    update = UpdateRuntimeSettings(**msgspec.structs.asdict(data), **_ids(request, idempotency_key))
    saved: RuntimeSettings = await _models(
        request, "runtime_settings.update", update, RuntimeSettings
    )
    return Response(
        RuntimeSettingsResponse(ok=True, data=saved, correlation_id=_correlation(request))
    )


MODEL_ROUTE_HANDLERS = [
    list_providers,
    get_provider,
    list_models,
    create_model,
    validate_provider_settings,
    get_model,
    update_model,
    delete_model,
    get_runtime_settings,
    update_runtime_settings,
]
"""Model-management handlers, mounted under ``/api/v1``."""
