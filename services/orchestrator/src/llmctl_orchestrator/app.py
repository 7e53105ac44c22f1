"""Wires the orchestrator's handlers to the bus."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from llmctl_contracts import subjects
from llmctl_contracts.artifacts import ListArtifacts
from llmctl_contracts.rpc import (
    ControlRun,
    CreateFlowchart,
    DeleteFlowchart,
    GetById,
    GetFlowchartVersion,
    ListFlowcharts,
    ListNodeRuns,
    ListRunEvents,
    ListRuns,
    StartRun,
    UpdateFlowchart,
    ValidateFlowchart,
)
from llmctl_libs.consumer import guarded
from llmctl_libs.rpc import endpoint
from llmctl_libs.service import ServiceContext, ServiceDefinition
from llmctl_libs.store.retention import idempotency_retention

from .artifact_queries import ArtifactQueries
from .control import RunControl
from .coordinator import RunCoordinator
from .flowchart_queries import FlowchartQueries
from .flowcharts import FlowchartRepository
from .queries import RunQueries
from .sweeper import TimerSweeper
from .tables import SCHEMA, idempotency

__all__ = [
    "CONSUMER_WORKERS",
    "CONTROL_WORKERS",
    "DEFINITION",
    "REQUEST_CONCURRENCY",
    "TIMEOUT_GRACE_ENV",
    "setup",
    "timeout_grace_from_env",
]

# Messages handled concurrently per step consumer. Each waits for the transaction its step
# joins (step_groups): the more in flight, the larger the batches under load. Steps of one run
# stay serial (one lane holds a run at a time, and its row lock across replicas).
CONSUMER_WORKERS = 64
CONTROL_WORKERS = 8
"""Control commands handled at once: each runs its own transaction on one pooled connection,
so they stay well under the connection pool (20)."""
REQUEST_CONCURRENCY = 4
"""Requests handled at once per instance on the subjects every run's client uses (run start,
run get, run events): each holds one pooled connection at a time. Other subjects take one
request at a time."""
TIMEOUT_GRACE_ENV = "LLMCTL_NODE_TIMEOUT_GRACE_SECONDS"
"""Seconds past a node's timeout before the orchestrator fails a silent attempt (default 15)."""

logger = logging.getLogger(__name__)


async def setup(ctx: ServiceContext) -> None:
    """Register the orchestrator's consumers and request handlers."""
    persistence = ctx.require_persistence()
    flowcharts = FlowchartRepository(persistence)
    bus = ctx.bus
    grace = timeout_grace_from_env()
    coordinator = RunCoordinator(persistence, flowcharts, bus, timeout_grace_seconds=grace)
    queries = RunQueries(persistence, answer_bytes=lambda: bus.max_payload)
    rpc = subjects.rpc
    endpoint(bus, rpc("orchestrator", "flowchart.create"), CreateFlowchart, flowcharts.create)
    endpoint(bus, rpc("orchestrator", "flowchart.get"), GetById, flowcharts.get)
    endpoint(bus, rpc("orchestrator", "flowchart.update"), UpdateFlowchart, flowcharts.update)
    endpoint(bus, rpc("orchestrator", "flowchart.delete"), DeleteFlowchart, flowcharts.delete)
    endpoint(bus, rpc("orchestrator", "flowchart.validate"), ValidateFlowchart, flowcharts.validate)
    flowchart_queries = FlowchartQueries(persistence)
    endpoint(bus, rpc("orchestrator", "flowchart.list"), ListFlowcharts, flowchart_queries.search)
    endpoint(bus, rpc("orchestrator", "flowchart.versions"), GetById, flowchart_queries.versions)
    endpoint(
        bus,
        rpc("orchestrator", "flowchart.version"),
        GetFlowchartVersion,
        flowchart_queries.version,
    )
    busy = REQUEST_CONCURRENCY
    endpoint(
        bus, rpc("orchestrator", "run.start"), StartRun, coordinator.start_run, max_workers=busy
    )
    endpoint(bus, rpc("orchestrator", "run.get"), GetById, queries.get, max_workers=busy)
    endpoint(bus, rpc("orchestrator", "run.list"), ListRuns, queries.runs)
    endpoint(bus, rpc("orchestrator", "run.node_runs"), ListNodeRuns, queries.node_runs)
    endpoint(
        bus, rpc("orchestrator", "run.events"), ListRunEvents, queries.events, max_workers=busy
    )
    artifact_queries = ArtifactQueries(persistence.database, answer_bytes=lambda: bus.max_payload)
    endpoint(bus, rpc("orchestrator", "run.artifacts"), ListArtifacts, artifact_queries.list)
    endpoint(bus, rpc("orchestrator", "artifact.get"), GetById, artifact_queries.get)
    control = RunControl(persistence, coordinator)
    sweeper = TimerSweeper(persistence, coordinator)
    ctx.on_start.append(sweeper.start)
    ctx.on_stop.append(sweeper.stop)
    endpoint(bus, rpc("orchestrator", "run.control"), ControlRun, control.control)
    bus.consume(
        subjects.control_command(),
        "orchestrator-control",
        guarded(bus, "orchestrator", control.on_command),
        stream=subjects.CMD_STREAM,
        max_workers=CONTROL_WORKERS,
    )
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


def timeout_grace_from_env() -> float:
    """The node timeout grace from the environment; a clear exit when it is not a number >= 0."""
    raw = os.environ.get(TIMEOUT_GRACE_ENV, "15")
    try:
        grace = float(raw)
    except ValueError:
        grace = -1.0
    if not grace >= 0:
        raise SystemExit(f"{TIMEOUT_GRACE_ENV} must be a number of seconds >= 0, got {raw!r}")
    return grace


DEFINITION = ServiceDefinition(
    name="orchestrator",
    setup=setup,
    schema=SCHEMA,
    migrations=Path(__file__).parent / "migrations",
    retention=(idempotency_retention(idempotency),),
)
