"""Wires the models service to the bus."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmctl_contracts import subjects
from llmctl_contracts.models import (
    CreateModel,
    DeleteModel,
    GetModel,
    GetProvider,
    ListModels,
    ListProviders,
    UpdateModel,
    UpdateRuntimeSettings,
    ValidateProviderSettings,
)
from llmctl_contracts.rpc import ResolveModel
from llmctl_libs.rpc import endpoint
from llmctl_libs.service import ServiceContext, ServiceDefinition
from llmctl_libs.store.retention import idempotency_retention

from .builtin import builtin_models
from .builtin_sync import sync_builtins
from .catalog import ModelCatalog
from .model_writes import ModelWrites
from .runtime_settings import RuntimeSettingsStore
from .tables import SCHEMA, idempotency
from .validation import validate_provider_settings

__all__ = ["DEFINITION", "SERVICE", "setup"]

SERVICE = "models"


async def setup(ctx: ServiceContext) -> None:
    """Sync built-in models and serve every models operation."""
    persistence = ctx.require_persistence()
    await sync_builtins(persistence.database, builtin_models())
    catalog = ModelCatalog(persistence.database)
    writes = ModelWrites(persistence)
    runtime = RuntimeSettingsStore(persistence)

    def serve(operation: str, request_type: Any, func: Any) -> None:
        endpoint(ctx.bus, subjects.rpc(SERVICE, operation), request_type, func)

    serve("provider.list", ListProviders, catalog.list_providers)
    serve("provider.get", GetProvider, catalog.get_provider)
    serve("model.resolve", ResolveModel, catalog.resolve)
    serve("model.list", ListModels, catalog.list)
    serve("model.get", GetModel, catalog.get)
    serve("model.create", CreateModel, writes.create)
    serve("model.update", UpdateModel, writes.update)
    serve("model.delete", DeleteModel, writes.delete)
    serve("model.validate_provider_settings", ValidateProviderSettings, validate_provider_settings)
    serve("runtime_settings.get", dict[str, Any], runtime.get)
    serve("runtime_settings.update", UpdateRuntimeSettings, runtime.update)


DEFINITION = ServiceDefinition(
    name=SERVICE,
    setup=setup,
    schema=SCHEMA,
    migrations=Path(__file__).parent / "migrations",
    retention=(idempotency_retention(idempotency),),
)
