"""Wires the orchestrator's handlers to the bus."""

from __future__ import annotations

import logging
from pathlib import Path

from llmctl_contracts import subjects
from llmctl_contracts.rpc import ControlRun, CreateFlowchart, GetById, ListRunEvents, StartRun
from llmctl_libs.consumer import guarded
from llmctl_libs.rpc import endpoint
from llmctl_libs.service import ServiceContext, ServiceDefinition

from .control import RunControl
from .coordinator import RunCoordinator
from .deadlines import DeadlineSweeper
from .flowcharts import FlowchartRepository
from .queries import RunQueries
from .tables import SCHEMA

__all__ = ["CONSUMER_WORKERS", "DEFINITION", "setup"]

# Messages handled concurrently per consumer; steps of one run are serialized by its row lock.
CONSUMER_WORKERS = 8

logger = logging.getLogger(__name__)


async def setup(ctx: ServiceContext) -> None:
    """Register the orchestrator's consumers and request handlers."""
    persistence = ctx.require_persistence()
    flowcharts = FlowchartRepository(persistence)
    coordinator = RunCoordinator(persistence, flowcharts)
    queries = RunQueries(persistence)
    bus = ctx.bus
    rpc = subjects.rpc
    endpoint(bus, rpc("orchestrator", "flowchart.create"), CreateFlowchart, flowcharts.create)
    endpoint(bus, rpc("orchestrator", "flowchart.get"), GetById, flowcharts.get)
    endpoint(bus, rpc("orchestrator", "run.start"), StartRun, coordinator.start_run)
    endpoint(bus, rpc("orchestrator", "run.get"), GetById, queries.get)
    endpoint(bus, rpc("orchestrator", "run.node_runs"), GetById, queries.node_runs)
    endpoint(bus, rpc("orchestrator", "run.events"), ListRunEvents, queries.events)
    control = RunControl(persistence, coordinator, bus)
    sweeper = DeadlineSweeper(persistence, coordinator, bus)
    ctx.on_start.append(sweeper.start)
    ctx.on_stop.append(sweeper.stop)
    endpoint(bus, rpc("orchestrator", "run.control"), ControlRun, control.control)
    bus.consume(
        subjects.exec_events_all(),
        "orchestrator-exec",
        guarded(bus, "orchestrator", coordinator.on_executed),
        stream=subjects.EVT_STREAM,
        max_workers=CONSUMER_WORKERS,
    )
    bus.consume(
        subjects.route_events_all(),
        "orchestrator-route",
        guarded(bus, "orchestrator", coordinator.on_routed),
        stream=subjects.EVT_STREAM,
        max_workers=CONSUMER_WORKERS,
    )


DEFINITION = ServiceDefinition(
    name="orchestrator",
    setup=setup,
    schema=SCHEMA,
    migrations=Path(__file__).parent / "migrations",
)
