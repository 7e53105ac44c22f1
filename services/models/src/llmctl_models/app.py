"""Wires the models service to the bus."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmctl_contracts import subjects
from llmctl_contracts.rpc import ResolveModel
from llmctl_libs.rpc import endpoint
from llmctl_libs.service import ServiceContext, ServiceDefinition

from .builtin import builtin_models
from .registry import ModelRegistry
from .tables import SCHEMA

__all__ = ["DEFINITION", "setup"]


async def setup(ctx: ServiceContext) -> None:
    """Sync built-in models and serve model resolution."""
    registry = ModelRegistry(ctx.require_persistence().database)
    await registry.sync_builtins(builtin_models())
    endpoint(ctx.bus, subjects.rpc("models", "model.resolve"), ResolveModel, registry.resolve)
    endpoint(ctx.bus, subjects.rpc("models", "model.list"), dict[str, Any], registry.list)


DEFINITION = ServiceDefinition(
    name="models", setup=setup, schema=SCHEMA, migrations=Path(__file__).parent / "migrations"
)
