"""Run one service definition in-process (migrations, bus, outbox relay) for tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from ..bus import Bus
from ..service import Persistence, ServiceContext, ServiceDefinition
from ..settings import ServiceSettings
from ..store.migrations import migrate

__all__ = ["running_service"]


@asynccontextmanager
async def running_service(
    definition: ServiceDefinition, *, nats_url: str, database_url: str
) -> AsyncIterator[ServiceContext]:
    """Migrate the service's schema, run its set-up on a started bus, stop it on exit.

    The same wiring as ``llmctl-<name> run`` without the process: real NATS, real Postgres.

    Yields:
        The service's context (its bus and persistence).
    """
    settings = ServiceSettings(
        service=definition.name,
        nats_url=nats_url,
        database_url=database_url,
        health_port=0,
        log_level="INFO",
    )
    bus = Bus(nats_url, service=definition.name)
    ctx = ServiceContext(settings=settings, bus=bus)
    if definition.schema is not None:
        assert definition.migrations is not None
        migrate(database_url, schema=definition.schema, script_location=definition.migrations)
        ctx.persistence = Persistence.for_schema(database_url, definition.schema, bus)
    await definition.setup(ctx)
    await bus.start()
    if ctx.persistence is not None:
        await ctx.persistence.relay.start()
    for hook in ctx.on_start:
        await hook()
    try:
        yield ctx
    finally:
        for hook in ctx.on_stop:
            await hook()
        if ctx.persistence is not None:
            await ctx.persistence.relay.stop()
        await bus.stop()
        if ctx.persistence is not None:
            await ctx.persistence.database.dispose()
