"""Wires the router's consumer to the bus."""

from __future__ import annotations

from pathlib import Path

from llmctl_contracts import subjects
from llmctl_libs.consumer import guarded
from llmctl_libs.service import ServiceContext, ServiceDefinition

from .handler import RouteHandler
from .tables import SCHEMA

__all__ = ["CONSUMER_WORKERS", "DEFINITION", "setup"]

# Messages handled concurrently per consumer; steps of one run are serialized by its row lock.
CONSUMER_WORKERS = 8


async def setup(ctx: ServiceContext) -> None:
    """Register the route-command consumer."""
    handler = RouteHandler(ctx.require_persistence())
    ctx.bus.consume(
        subjects.route_command(),
        "router",
        guarded(ctx.bus, "router", handler),
        stream=subjects.CMD_STREAM,
        max_workers=CONSUMER_WORKERS,
    )


DEFINITION = ServiceDefinition(
    name="router", setup=setup, schema=SCHEMA, migrations=Path(__file__).parent / "migrations"
)
