"""Orchestrator test helpers: a pure driver of the token engine (the coordinator's steps without
I/O), a database with the orchestrator's schema (real Postgres), and an in-process orchestrator
on it (the coordinator, the run control and the timer sweeper without a bus) with a test clock.

Test modules run in pytest's importlib mode and cannot import this module; they reach the
classes here through the fixtures, and name them for type checking only
(``if TYPE_CHECKING: from conftest import Orchestrator``).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, cast

import msgspec
import pytest
import sqlalchemy as sa

from llmctl_contracts import (
    Envelope,
    MessageType,
    NodeRunStatus,
    decode_envelope,
    decode_payload,
    subjects,
)
from llmctl_contracts.commands import ExecuteNode, RouteNode
from llmctl_contracts.errors import ErrorBody, ErrorCode
from llmctl_contracts.events import (
    NodeCancelRequested,
    NodeExecuted,
    NodeFailed,
    NodeQueued,
    NodeRouted,
    NodeRoutingDecided,
    NodeSucceeded,
    RunControlled,
)
from llmctl_contracts.flowchart import FlowchartDefinition
from llmctl_contracts.routing import RoutingState
from llmctl_contracts.rpc import ControlRun, CreateFlowchart, RunRecord, StartRun
from llmctl_infra.embedded.nats import MAX_PAYLOAD
from llmctl_infra.test_flowcharts import chain, task
from llmctl_libs.bus import Bus
from llmctl_libs.ids import new_id
from llmctl_libs.messages import Trace, make_envelope
from llmctl_libs.rpc import RpcError
from llmctl_libs.service import Persistence
from llmctl_libs.store import Database
from llmctl_libs.testing.database import database_with
from llmctl_orchestrator import coordinator as coordinator_module
from llmctl_orchestrator import sweeper as sweeper_module
from llmctl_orchestrator.control import RunControl
from llmctl_orchestrator.coordinator import RunCoordinator
from llmctl_orchestrator.engine import (
    Activation,
    FlowchartGraph,
    RunEvent,
    RunState,
    evolve,
    fired_targets,
    next_activation,
    replay,
    start_activation,
)
from llmctl_orchestrator.flowcharts import FlowchartRepository
from llmctl_orchestrator.history import run_events
from llmctl_orchestrator.projections import project
from llmctl_orchestrator.queries import run_record
from llmctl_orchestrator.sweeper import TimerSweeper
from llmctl_orchestrator.tables import metadata, node_runs, runs, store, timers


def build_graph(
    nodes: list[dict[str, Any]], connectors: list[tuple[str, str, str]], **extra: Any
) -> FlowchartGraph:
    """A graph from nodes and ``(id, source, target)`` solid connectors."""
    doc = {
        "name": "t",
        "nodes": nodes,
        "connectors": [{"id": c, "source": s, "target": t} for c, s, t in connectors],
        **extra,
    }
    return FlowchartGraph.build(msgspec.convert(doc, FlowchartDefinition))


class EngineDriver:
    """Applies the same events the coordinator emits, recording them for replay."""

    def __init__(self, graph: FlowchartGraph) -> None:
        self.graph = graph
        self.state = RunState()
        self.events: list[RunEvent] = []
        self.activations: dict[str, Activation] = {}

    def emit(self, type_name: str, payload: Any) -> None:
        evolve(self.state, self.graph, type_name, payload)
        self.events.append(RunEvent(len(self.events) + 1, type_name, payload))

    def queue(self, activation: Activation) -> str:
        node_run_id = f"{activation.node_id}#{activation.execution_index}"
        self.activations[node_run_id] = activation
        self.emit(
            MessageType.NODE_QUEUED,
            NodeQueued(
                node_run_id=node_run_id,
                node_id=activation.node_id,
                node_type="task",
                execution_index=activation.execution_index,
                consumed_connector_ids=[t.connector_id for t in activation.consumed],
                input_context={},
            ),
        )
        return node_run_id

    def start(self) -> str:
        return self.queue(start_activation(self.state, self.graph))

    def succeed(self, node_run_id: str, output: dict[str, Any] | None = None) -> None:
        self.emit(
            MessageType.NODE_SUCCEEDED,
            NodeSucceeded(
                node_run_id=node_run_id,
                node_id=self.activations[node_run_id].node_id,
                status=NodeRunStatus.SUCCEEDED,
                output=output or {"from": node_run_id},
            ),
        )

    def fail(self, node_run_id: str) -> None:
        self.emit(
            MessageType.NODE_FAILED,
            NodeFailed(
                node_run_id=node_run_id,
                node_id=self.activations[node_run_id].node_id,
                error=ErrorBody(code=ErrorCode.INTERNAL, message="boom"),
            ),
        )

    def route(self, node_run_id: str, fired: list[str]) -> list[Activation]:
        """Record the routing decision, then queue every activation it makes ready."""
        targets = fired_targets(self.graph, fired)
        self.emit(
            MessageType.NODE_ROUTED,
            NodeRouted(
                node_run_id=node_run_id,
                node_id=self.activations[node_run_id].node_id
                if node_run_id in self.activations
                else "external",
                routing_state=RoutingState(matched_connector_ids=fired),
            ),
        )
        made: list[Activation] = []
        for target in targets:
            while (activation := next_activation(self.state, self.graph, target)) is not None:
                self.queue(activation)
                made.append(activation)
        return made


@pytest.fixture(scope="session")
def driver() -> type[EngineDriver]:
    """The EngineDriver class."""
    return EngineDriver


@pytest.fixture(scope="session")
def graph_of() -> Any:
    """``build_graph``."""
    return build_graph


@pytest.fixture
async def orchestrator_db(database_url: str) -> AsyncIterator[Database]:
    """A database with the orchestrator's tables (created from the metadata)."""
    async with database_with(database_url, metadata) as database:
        yield database


# -- an in-process orchestrator ----------------------------------------------------------------

_BOOM = ErrorBody(code=ErrorCode.INTERNAL, message="boom")

_WORK_CHAIN = chain(task("work"))
"""start -> work -> end, the run ``Orchestrator.run_in`` drives to a status."""


class Clock:
    """The time the coordinator schedules timers by and the sweeper sweeps at."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now


class StopNotices:
    """Stands in for the bus: a step uses it only to tell workers to stop node runs
    (``bus.nc.publish`` on the cancel broadcast), which this records, and to size its
    commands (``max_payload``, the embedded server's)."""

    def __init__(self) -> None:
        self.nc = self
        self.max_payload = MAX_PAYLOAD
        self.notices: list[NodeCancelRequested] = []

    async def publish(self, subject: str, payload: bytes) -> None:
        assert subject == subjects.cancel_broadcast()
        self.notices.append(msgspec.json.decode(payload, type=NodeCancelRequested))


class Orchestrator:
    """The coordinator, the run control and the timer sweeper on the test database, without a
    bus: the relay never runs, so what a step publishes stays in the outbox; the test plays the
    router and the workers by handing the coordinator their reports, and the one broadcast a
    step makes (telling workers to stop) is recorded in ``stops``.

    ``clock`` is the test clock the ``clock`` fixture installs (needed by ``sweep``); ``grace``
    is the node timeout grace the coordinator runs with (its default when None); ``topic`` goes
    into every run's input.
    """

    def __init__(
        self,
        database: Database,
        clock: Clock | None = None,
        *,
        grace: float | None = None,
        topic: str = "control",
    ) -> None:
        self.db = database
        self.clock = clock
        self.topic = topic
        self.stops = StopNotices()
        bus = cast(Bus, self.stops)
        persistence = Persistence.for_tables(database, store, bus)
        self.event_store = persistence.event_store
        self.flowcharts = FlowchartRepository(persistence)
        self.coordinator = (
            RunCoordinator(persistence, self.flowcharts, bus)
            if grace is None
            else RunCoordinator(persistence, self.flowcharts, bus, timeout_grace_seconds=grace)
        )
        self.control_service = RunControl(persistence, self.coordinator)
        self.sweeper = TimerSweeper(persistence, self.coordinator)

    # -- driving runs ------------------------------------------------------------------------

    async def start(self, document: dict[str, Any]) -> str:
        """Start a run of ``document``; its start node runs and awaits routing."""
        definition = msgspec.convert(document, FlowchartDefinition)
        flowchart = await self.flowcharts.create(CreateFlowchart(definition=definition))
        run = await self.coordinator.start_run(
            StartRun(flowchart_id=flowchart.id, input={"topic": self.topic})
        )
        return run.id

    def report(self, type_name: str, payload: Any, run_id: str, node_run_id: str) -> Envelope:
        """A report envelope for the run's node run, with a fresh message id."""
        return make_envelope(
            type_name,
            payload,
            trace=Trace(correlation_id=run_id),
            idempotency_key=new_id(),
            run_id=run_id,
            node_run_id=node_run_id,
        )

    async def routed(self, run_id: str, node_id: str, *fired: str, end: bool = False) -> None:
        """The router's decision for the node's open node run: ``fired`` connectors fire."""
        node_run = await self.node_run(run_id, node_id)
        decided = NodeRoutingDecided(
            node_run_id=node_run.id,
            node_id=node_id,
            routing_state=RoutingState(matched_connector_ids=list(fired), terminate_run=end),
        )
        envelope = self.report(MessageType.NODE_ROUTING_DECIDED, decided, run_id, node_run.id)
        await self.coordinator.on_routed(envelope)

    async def executed(
        self,
        run_id: str,
        node_run_id: str,
        node_id: str,
        attempt: int,
        *,
        output: dict[str, Any] | None = None,
        error: ErrorBody | None = None,
    ) -> None:
        """A worker's report of one attempt: succeeded with ``output``, or failed."""
        report = NodeExecuted(
            node_run_id=node_run_id,
            node_id=node_id,
            attempt=attempt,
            succeeded=error is None,
            output=output or {},
            error=error,
        )
        envelope = self.report(MessageType.NODE_EXECUTED, report, run_id, node_run_id)
        await self.coordinator.on_executed(envelope)

    async def control(self, run_id: str, action: str, request_id: str, **request: Any) -> RunRecord:
        """Apply a control request (as the ``run.control`` request/reply endpoint does)."""
        return await self.control_service.control(
            ControlRun(run_id=run_id, action=action, request_id=request_id, **request)  # type: ignore[arg-type]
        )

    async def refused(self, run_id: str, action: str, request_id: str, **request: Any) -> ErrorBody:
        """The error a control request is refused with."""
        with pytest.raises(RpcError) as refusal:
            await self.control(run_id, action, request_id, **request)
        return refusal.value.body

    async def run_in(self, status: str) -> tuple[str, str]:
        """A run of start -> work -> end in ``status``.

        Returns:
            The run id and the ``work`` node run's id.
        """
        run_id = await self.start(_WORK_CHAIN)
        await self.routed(run_id, "start", "start-work")
        work = (await self.node_run(run_id, "work")).id  # dispatched, attempt 1
        if status == "pausing":
            await self.control(run_id, "pause", "pause-to-pausing")
        elif status == "paused":
            await self.control(run_id, "pause", "pause-to-paused")
            await self.executed(run_id, work, "work", 1, output={"done": True})
            await self.routed(run_id, "work", "work-end")  # the end node is held
        elif status == "succeeded":
            await self.executed(run_id, work, "work", 1, output={"done": True})
            await self.routed(run_id, "work", "work-end")
            await self.routed(run_id, "end", end=True)
        elif status == "failed":
            await self.executed(run_id, work, "work", 1, error=_BOOM)
        elif status == "cancelled":
            await self.control(run_id, "cancel", "cancel-to-cancelled")
        assert (await self.record(run_id)).status == status
        return run_id, work

    async def sweep(self, at: datetime) -> int:
        """One pass of the sweeper with the clock at ``at``; how many timers acted."""
        assert self.clock is not None, "sweeping needs the orchestrator built with the clock"
        self.clock.now = at
        return await self.sweeper.sweep_once()

    # -- reading -----------------------------------------------------------------------------

    async def finish_fork(
        self, run_id: str, a: str, b: str, attempts: tuple[int, int]
    ) -> RunRecord:
        """Node runs ``a`` and ``b`` of a two-branch fan succeed (at ``attempts``, output
        ``{"n": <node>}``) and route to the end, which ends the run; the run's record then."""
        for node_run_id, node_id, attempt in ((a, "a", attempts[0]), (b, "b", attempts[1])):
            await self.executed(run_id, node_run_id, node_id, attempt, output={"n": node_id})
        for node_id in ("a", "b"):
            await self.routed(run_id, node_id, f"{node_id}-end")
        await self.routed(run_id, "end", end=True)
        return await self.record(run_id)

    async def record(self, run_id: str) -> RunRecord:
        return await run_record(self.db, run_id)

    async def node_runs(self, run_id: str) -> list[Any]:
        """The run's node runs, in activation order."""
        async with self.db.autocommit() as conn:
            rows = await conn.execute(
                sa.select(node_runs)
                .where(node_runs.c.run_id == run_id)
                .order_by(node_runs.c.created_at, node_runs.c.node_id)
            )
            return list(rows)

    async def node_run(self, run_id: str, node_id: str) -> Any:
        """The node's only node run not superseded by a rewind."""
        [row] = [
            r for r in await self.node_runs(run_id) if r.node_id == node_id and not r.superseded
        ]
        return row

    async def statuses(self, run_id: str) -> dict[str, tuple[str, int]]:
        """Status and attempt of the run's node runs not superseded, by node id."""
        rows = await self.node_runs(run_id)
        return {r.node_id: (r.status, r.attempt) for r in rows if not r.superseded}

    async def timers(self, run_id: str) -> list[tuple[str, str, int, datetime]]:
        """The run's pending timers as ``(kind, node run id, attempt, due at)``, soonest first."""
        async with self.db.autocommit() as conn:
            rows = await conn.execute(
                sa.select(timers.c.kind, timers.c.node_run_id, timers.c.attempt, timers.c.due_at)
                .where(timers.c.run_id == run_id)
                .order_by(timers.c.due_at, timers.c.id)
            )
            return [tuple(r) for r in rows]

    async def deadline(self, run_id: str) -> datetime | None:
        async with self.db.autocommit() as conn:
            deadline: datetime | None = (
                await conn.execute(sa.select(runs.c.deadline_at).where(runs.c.id == run_id))
            ).scalar_one()
            return deadline

    async def events(self, run_id: str) -> list[RunEvent]:
        async with self.db.autocommit() as conn:
            return await run_events(self.event_store, conn, run_id)

    async def payloads(self, run_id: str, type_name: str) -> list[Any]:
        """Payloads of the run's events of one type, oldest first."""
        return [e.payload for e in await self.events(run_id) if e.type == type_name]

    async def superseded(self, run_id: str) -> list[int]:
        """Sequences of the run's events marked superseded."""
        events = store.events
        async with self.db.autocommit() as conn:
            rows = await conn.execute(
                sa.select(events.c.version)
                .where(events.c.stream_id == run_id, events.c.superseded)
                .order_by(events.c.version)
            )
            return list(rows.scalars())

    async def controls(self, run_id: str) -> list[RunControlled]:
        return await self.payloads(run_id, MessageType.RUN_CONTROLLED)

    async def commands(self, run_id: str, subject: str) -> list[Envelope]:
        """Envelopes of the commands the run's steps queued on ``subject``, oldest first."""
        outbox = store.outbox
        async with self.db.autocommit() as conn:
            bodies = await conn.execute(
                sa.select(outbox.c.body).where(outbox.c.subject == subject).order_by(outbox.c.id)
            )
            envelopes = [decode_envelope(body) for body in bodies.scalars()]
        return [e for e in envelopes if e.run_id == run_id]

    async def executions(self, run_id: str) -> list[ExecuteNode]:
        """The execute commands sent to the frontier workers for the run, oldest first."""
        sent = await self.commands(run_id, subjects.execute_command("frontier"))
        return [decode_payload(e, ExecuteNode) for e in sent]

    async def launched(self, run_id: str) -> list[tuple[str, int]]:
        """``(node id, attempt)`` of each execute command sent for the run."""
        return [(e.node.id, e.attempt) for e in await self.executions(run_id)]

    async def routings(self, run_id: str) -> list[RouteNode]:
        """The routing requests sent to the router for the run, oldest first."""
        sent = await self.commands(run_id, subjects.route_command())
        return [decode_payload(e, RouteNode) for e in sent]

    async def assert_rebuilds(self, run_id: str) -> None:
        """The run and node-run projections, and the saved state snapshot, equal what the
        run's events alone rebuild; the events are numbered without gaps."""
        events = await self.events(run_id)
        assert [e.sequence for e in events] == list(range(1, len(events) + 1))
        view = project(events)
        async with self.db.autocommit() as conn:
            run = (await conn.execute(sa.select(runs).where(runs.c.id == run_id))).one()
            graph = await self.flowcharts.graph(run.flowchart_id, run.flowchart_version, conn)
        assert (view.status, view.last_sequence, view.node_executions) == (
            run.status,
            run.last_sequence,
            run.node_executions,
        )
        assert (view.error, view.outcome) == (run.error, run.outcome)
        live = {r.id: r for r in await self.node_runs(run_id)}
        assert set(live) == set(view.node_runs)
        for node_run_id, rebuilt in view.node_runs.items():
            row = live[node_run_id]
            assert {k: getattr(row, k) for k in vars(rebuilt)} == vars(rebuilt), node_run_id
        snapshot = [e for e in events if e.sequence <= run.state_sequence]
        assert replay(graph, snapshot) == msgspec.msgpack.decode(run.state, type=RunState)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Stops time for the coordinator (timer due times, run deadlines) and the sweeper."""
    clock = Clock()
    monkeypatch.setattr(coordinator_module, "_now", clock)
    monkeypatch.setattr(sweeper_module, "datetime", SimpleNamespace(now=lambda _tz=None: clock()))
    return clock


@pytest.fixture
def make_orchestrator(orchestrator_db: Database) -> Callable[..., Orchestrator]:
    """``Orchestrator`` on the test database: called with the rest of its arguments (a module
    whose tests need the test clock or another timeout grace builds its own ``orchestrator``)."""
    return functools.partial(Orchestrator, orchestrator_db)


@pytest.fixture
def orchestrator(make_orchestrator: Callable[..., Orchestrator]) -> Orchestrator:
    """An orchestrator on the real clock, with the coordinator's default timeout grace."""
    return make_orchestrator()
