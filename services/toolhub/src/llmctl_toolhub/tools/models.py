"""Model/provider management tools, delegating to the models service.

The request types are the models service's own contracts, so a tool call is validated exactly
as the REST API validates the same request. Their tracing fields (``idempotency_key``,
``request_id``, ``correlation_id``) are always set by the tool layer: the models service keys
a write on the call's idempotency key (``ctx.operation_key``), so a retried or replayed call
never creates, updates or deletes twice, and a reused key with other arguments is refused.
"""

from __future__ import annotations

from typing import Any

import msgspec

from llmctl_contracts.models import (
    CreateModel,
    DeleteModel,
    GetModel,
    GetProvider,
    ListModels,
    ListProviders,
    ModelPage,
    ModelRecord,
    ProviderDescriptor,
    ProviderName,
    ProviderSettingsValidation,
    UpdateModel,
    ValidateProviderSettings,
)
from llmctl_libs.tools import ToolContext, ToolSpec

from ._deps import ToolDeps

__all__ = ["ProviderList", "model_tools"]

DOMAIN = "model_provider"


class ProviderList(msgspec.Struct, frozen=True, kw_only=True):
    """Every provider with its settings schema versions."""

    providers: list[ProviderDescriptor]


class ModelIdArgs(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One model by id."""

    id: str


class ProviderNameArgs(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One provider by name."""

    name: ProviderName


class NoArgs(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """No arguments."""


def _traced(ctx: ToolContext, request: Any) -> Any:
    return msgspec.structs.replace(
        request,
        idempotency_key=ctx.operation_key,
        request_id=ctx.request_id,
        correlation_id=ctx.correlation_id,
    )


def model_tools(deps: ToolDeps) -> list[ToolSpec[Any, Any]]:
    """The model/provider tools."""

    async def provider_list(ctx: ToolContext, args: NoArgs) -> ProviderList:
        found = await deps.models("provider.list", ListProviders(), list[ProviderDescriptor])
        return ProviderList(providers=found)

    async def provider_get(ctx: ToolContext, args: ProviderNameArgs) -> ProviderDescriptor:
        return await deps.models("provider.get", GetProvider(name=args.name), ProviderDescriptor)

    async def model_list(ctx: ToolContext, args: ListModels) -> ModelPage:
        return await deps.models("model.list", args, ModelPage)

    async def model_get(ctx: ToolContext, args: ModelIdArgs) -> ModelRecord:
        return await deps.models("model.get", GetModel(id=args.id), ModelRecord)

    async def model_create(ctx: ToolContext, args: CreateModel) -> ModelRecord:
        return await deps.models("model.create", _traced(ctx, args), ModelRecord)

    async def model_update(ctx: ToolContext, args: UpdateModel) -> ModelRecord:
        return await deps.models("model.update", _traced(ctx, args), ModelRecord)

    async def model_delete(ctx: ToolContext, args: DeleteModel) -> ModelRecord:
        return await deps.models("model.delete", _traced(ctx, args), ModelRecord)

    async def model_validate_provider_settings(
        ctx: ToolContext, args: ValidateProviderSettings
    ) -> ProviderSettingsValidation:
        return await deps.models(
            "model.validate_provider_settings", args, ProviderSettingsValidation
        )

    def tool(
        name: str, description: str, args: type[Any], out: type[Any], handler: Any, writes: bool
    ) -> ToolSpec[Any, Any]:
        return ToolSpec(
            name, 1, DOMAIN, description, args, out, handler, writes=writes, max_attempts=2
        )

    return [
        tool(
            "provider_list",
            "Every provider and its versioned settings schemas.",
            NoArgs,
            ProviderList,
            provider_list,
            False,
        ),
        tool(
            "provider_get",
            "One provider and its versioned settings schemas.",
            ProviderNameArgs,
            ProviderDescriptor,
            provider_get,
            False,
        ),
        tool(
            "model_list",
            "A page of models (search `q`, filter by provider or capability, sort).",
            ListModels,
            ModelPage,
            model_list,
            False,
        ),
        tool(
            "model_get",
            "One model, with a drift notice when its provider's settings schema is newer.",
            ModelIdArgs,
            ModelRecord,
            model_get,
            False,
        ),
        tool(
            "model_create",
            "Create a model bound to one provider (settings validated; secrets by reference).",
            CreateModel,
            ModelRecord,
            model_create,
            True,
        ),
        tool(
            "model_update",
            "Update a model (`expected_version` required; the provider cannot change).",
            UpdateModel,
            ModelRecord,
            model_update,
            True,
        ),
        tool(
            "model_delete",
            "Delete a model (built-in models cannot be deleted).",
            DeleteModel,
            ModelRecord,
            model_delete,
            True,
        ),
        tool(
            "model_validate_provider_settings",
            "Check provider settings (and optionally probe the provider) without saving.",
            ValidateProviderSettings,
            ProviderSettingsValidation,
            model_validate_provider_settings,
            False,
        ),
    ]
