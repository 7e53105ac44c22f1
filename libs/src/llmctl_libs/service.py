"""Process runtime shared by every service: settings, bus, database, relay, health, signals."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from llmctl_contracts import encode, subjects
from llmctl_contracts.rpc import HealthReport, RpcReply

from . import event_loop
from .bus import Bus
from .health import HealthServer
from .heap import freeze_startup_heap
from .settings import ServiceSettings
from .store import (
    Database,
    Inbox,
    OnceRecorder,
    Outbox,
    OutboxRelay,
    PostgresEventStore,
    RetentionRule,
    RetentionSweeper,
    StoreTables,
    store_tables,
)
from .store.retention import inbox_retention, outbox_retention, sweep_interval_from_env

__all__ = ["Persistence", "ServiceContext", "ServiceDefinition", "run_cli"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Persistence:
    """A service's database handle and its event store, outbox, inbox and relay.

    ``once`` records a consumer's claim, events and outbox messages in one statement (for
    consumers whose whole effect is that).
    """

    database: Database
    event_store: PostgresEventStore
    outbox: Outbox
    inbox: Inbox
    relay: OutboxRelay
    once: OnceRecorder

    @classmethod
    def for_schema(cls, database_url: str, schema: str, bus: Bus) -> Persistence:
        """Wire the plumbing of one service schema."""
        return cls.for_tables(Database(database_url), store_tables(schema), bus)

    @classmethod
    def for_tables(cls, database: Database, tables: StoreTables, bus: Bus) -> Persistence:
        """Wire the plumbing on ``database`` for the store ``tables`` of a schema."""
        outbox = Outbox(tables)
        return cls(
            database=database,
            event_store=PostgresEventStore(tables),
            outbox=outbox,
            inbox=Inbox(tables),
            relay=OutboxRelay(database, outbox, bus),
            once=OnceRecorder(tables),
        )


@dataclass(slots=True)
class ServiceContext:
    """Everything a service's set-up function wires its handlers to."""

    settings: ServiceSettings
    bus: Bus
    persistence: Persistence | None = None
    on_start: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    on_stop: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    def require_persistence(self) -> Persistence:
        """The service's persistence; an error for services defined without a schema."""
        if self.persistence is None:
            raise RuntimeError(f"{self.settings.service} has no database schema configured")
        return self.persistence


@dataclass(frozen=True, slots=True)
class ServiceDefinition:
    """How to run one service.

    Attributes:
        name: Service name (also the DB schema name when ``schema`` is set).
        setup: Registers consumers/endpoints on the context before the bus starts.
        schema: The service's own Postgres schema; ``None`` for services without a database.
        migrations: Folder with the service's Alembic scripts (``env.py``, ``versions/``).
        retention: Rows of the service's own tables deleted once expired (published outbox
            rows and inbox rows are always included for a service with a schema).
    """

    name: str
    setup: Callable[[ServiceContext], Awaitable[None]]
    schema: str | None = None
    migrations: Path | None = None
    retention: tuple[RetentionRule, ...] = ()


async def _serve(definition: ServiceDefinition) -> None:
    settings = ServiceSettings.from_env(definition.name)
    bus = Bus(settings.nats_url, service=definition.name)
    ctx = ServiceContext(settings=settings, bus=bus)
    if definition.schema is not None:
        ctx.persistence = Persistence.for_schema(settings.database_url, definition.schema, bus)
    persistence = ctx.persistence

    async def report() -> HealthReport:
        checks = {"bus": bus.nc.is_connected if bus._started else False}
        if persistence is not None:
            checks["database"] = await persistence.database.ping()
        return HealthReport(
            service=definition.name, healthy=all(checks.values()), pid=os.getpid(), checks=checks
        )

    async def health_rpc(_: bytes) -> bytes:
        return encode(RpcReply(ok=True, result=await report()))

    sweeper = None
    if persistence is not None:
        sweeper = RetentionSweeper(
            persistence.database,
            [
                outbox_retention(persistence.outbox.table),
                inbox_retention(persistence.inbox.table),
                *definition.retention,
            ],
            interval_seconds=sweep_interval_from_env(),
        )
    await definition.setup(ctx)
    bus.serve(subjects.rpc(definition.name, "health"), health_rpc)
    health = HealthServer(report, port=settings.health_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await bus.start()
    if persistence is not None:
        await persistence.relay.start()
    if sweeper is not None:
        await sweeper.start()
    for hook in ctx.on_start:
        await hook()
    await health.start()
    frozen = freeze_startup_heap()
    logger.info("%s started (pid %s, %d objects frozen)", definition.name, os.getpid(), frozen)
    await stop.wait()
    logger.info("%s stopping", definition.name)
    await health.stop()
    for hook in ctx.on_stop:
        await hook()
    if sweeper is not None:
        await sweeper.stop()
    if persistence is not None:
        await persistence.relay.stop()
    await bus.stop()
    if persistence is not None:
        await persistence.database.dispose()


def run_cli(definition: ServiceDefinition, argv: list[str] | None = None) -> int:
    """Console entry point: ``llmctl-<name> [run|migrate]``."""
    args = sys.argv[1:] if argv is None else argv
    action = args[0] if args else "run"
    settings = ServiceSettings.from_env(definition.name)
    logging.basicConfig(
        level=settings.log_level,
        format=f"%(asctime)s {definition.name} %(levelname)s %(name)s: %(message)s",
    )
    if action == "migrate":
        # Alembic is imported here only: a service that runs never needs it (~0.2 s a start)
        from .store.migrations import migrate

        if definition.schema is None or definition.migrations is None:
            print(f"{definition.name}: no database, nothing to migrate")
            return 0
        migrate(
            settings.database_url,
            schema=definition.schema,
            script_location=definition.migrations,
        )
        print(f"{definition.name}: migrations applied")
        return 0
    if action != "run":
        print(f"usage: llmctl-{definition.name} [run|migrate]", file=sys.stderr)
        return 2
    event_loop.run(_serve(definition))
    return 0
