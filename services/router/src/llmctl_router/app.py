"""Wires the router's consumer and request/reply operations to the bus."""

from __future__ import annotations

from pathlib import Path

from llmctl_contracts import subjects
from llmctl_contracts.routing_ops import ResolveNextNodes, ValidateConnectorConditions
from llmctl_libs.bus import Bus
from llmctl_libs.consumer import guarded
from llmctl_libs.rpc import endpoint
from llmctl_libs.service import ServiceContext, ServiceDefinition

from .handler import RouteHandler
from .operations import resolve_next_nodes, validate_conditions
from .tables import SCHEMA

__all__ = [
    "CONSUMER_WORKERS",
    "DEFINITION",
    "RESOLVE_NEXT_NODES",
    "VALIDATE_CONDITIONS",
    "register_operations",
    "setup",
]

# Route commands handled concurrently. Each waits for the batch its decision is written in
# (RouteHandler): the more in flight, the larger the batches under load.
CONSUMER_WORKERS = 64

VALIDATE_CONDITIONS = subjects.rpc("router", "connector_conditions.validate")
RESOLVE_NEXT_NODES = subjects.rpc("router", "next_nodes.resolve")


def register_operations(bus: Bus) -> None:
    """Serve the router's request/reply operations (register before ``bus.start()``)."""
    endpoint(bus, VALIDATE_CONDITIONS, ValidateConnectorConditions, validate_conditions)
    endpoint(bus, RESOLVE_NEXT_NODES, ResolveNextNodes, resolve_next_nodes)


async def setup(ctx: ServiceContext) -> None:
    """Register the route-command consumer and the request/reply operations."""
    handler = RouteHandler(ctx.require_persistence())
    ctx.bus.consume(
        subjects.route_command(),
        "router",
        guarded(ctx.bus, "router", handler),
        stream=subjects.CMD_STREAM,
        max_workers=CONSUMER_WORKERS,
    )
    register_operations(ctx.bus)


DEFINITION = ServiceDefinition(
    name="router", setup=setup, schema=SCHEMA, migrations=Path(__file__).parent / "migrations"
)
