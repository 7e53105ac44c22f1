"""Run lifecycle: start runs, take worker and router reports, activate and dispatch nodes.

Every step runs in one transaction that locks the run row, claims the incoming message in
the inbox, appends the resulting run events (each applied to the run state as it is emitted),
queues commands in the outbox, schedules timers and saves the state. A crash anywhere rolls
the whole step back; the redelivered message then redoes it once.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import sqlalchemy as sa
from psycopg.rows import namedtuple_row
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from llmctl_contracts import (
    Envelope,
    ErrorBody,
    ErrorCode,
    MessageType,
    NodeRunStatus,
    RunStatus,
    decode_payload,
    subjects,
)
from llmctl_contracts.commands import ExecuteNode, RouteNode
from llmctl_contracts.events import (
    NodeDispatched,
    NodeExecuted,
    NodeFailed,
    NodeQueued,
    NodeRetryScheduled,
    NodeRouted,
    NodeRoutingDecided,
    NodeSucceeded,
    RunCreated,
    RunFailed,
    RunStarted,
    RunSucceeded,
)
from llmctl_contracts.flowchart import DecisionNode, EndNode, Node, StartNode
from llmctl_contracts.rpc import RunRecord, StartRun
from llmctl_contracts.statuses import TERMINAL_RUN_STATUSES
from llmctl_libs.bus import Bus
from llmctl_libs.ids import deterministic_id, new_id
from llmctl_libs.messages import Trace
from llmctl_libs.service import Persistence
from llmctl_libs.store import PendingMessage
from llmctl_libs.store.database import BEGIN
from llmctl_libs.store.driver import driver_connection
from llmctl_libs.store.idempotency import NOT_SEEN, IdempotentRequests, request_fingerprint
from llmctl_libs.store.outbox import message_limit

from .engine import (
    Activation,
    EngineError,
    FlowchartGraph,
    RunState,
    completion,
    fired_targets,
    next_activation,
    start_activation,
    unconsumed_tokens,
)
from .engine.context import build_context
from .flowcharts import FlowchartRepository
from .queries import run_record, run_record_in
from .run_states import KnownRun, RunFacts, RunStates, load_state
from .sent_ahead import SendAheadPolicy, SentAhead, claims
from .step_groups import Batch, QueuedStep, StepGroups
from .tables import RUN_COLUMNS, idempotency, node_runs, runs, store, timers
from .workers import tell_workers_to_stop, worker_for
from .writer import CommandTooLarge, RunWriter, flush_writers, queue_writes

__all__ = [
    "MAX_RETRY_DELAY_MS",
    "RunCoordinator",
    "Step",
    "is_running",
    "retry_delay_ms",
    "run_deadline",
]

logger = logging.getLogger(__name__)

_INLINE = (StartNode, EndNode, DecisionNode)
_HOLDING = {RunStatus.PAUSING.value, RunStatus.PAUSED.value}
_TERMINAL_RUN = {s.value for s in TERMINAL_RUN_STATUSES}
_RUNNING_NODE = {NodeRunStatus.DISPATCHED.value, NodeRunStatus.RUNNING.value}
_KEY_SEPARATOR = "\x1f"
"""Joins an inbox scope and a message id in the claim statement's result (in neither)."""
_CLAIM_AND_LOCK = (
    f"WITH claim AS (INSERT INTO {store.inbox.schema}.inbox (consumer, message_id) "
    "SELECT * FROM unnest(%(consumers)b::text[], %(message_ids)b::text[]) "
    "ON CONFLICT DO NOTHING RETURNING consumer, message_id) "
    "SELECT (SELECT array_agg(consumer || chr(31) || message_id) FROM claim) AS claimed_keys, "
    + ", ".join(f"r.{c.name}" for c in RUN_COLUMNS)
    + f" FROM {runs.schema}.runs r WHERE r.id = ANY(%(run_ids)b::text[]) "
    "ORDER BY r.id FOR UPDATE OF r"
)
"""Claims a batch's messages and locks its runs' rows: one statement, one round trip."""
_SCHEDULE = (
    f"INSERT INTO {timers.schema}.timers (id, run_id, node_run_id, kind, attempt, due_at) "
    "VALUES (%(id)s, %(run_id)s, %(node_run_id)s, %(kind)s, %(attempt)s, %(due_at)s) "
    "ON CONFLICT (id) DO NOTHING"
)
_UNSCHEDULE = f"DELETE FROM {timers.schema}.timers WHERE id = %(id)s"
"""Timer statements (one per dispatch and per report): fixed SQL on the driver."""
MAX_RETRY_DELAY_MS = 300_000
"""Longest wait between two attempts, whatever the backoff and attempt number."""

Step = Callable[[RunWriter, FlowchartGraph, dict[str, Any]], Awaitable[None]]
"""Body of one run step, given the locked run's writer, graph and run metadata."""


def retry_delay_ms(backoff_ms: int, failed_attempts: int) -> int:
    """Exponential backoff: ``backoff_ms`` after the first failure, doubling after each."""
    if backoff_ms <= 0:
        return 0
    return int(min(MAX_RETRY_DELAY_MS, backoff_ms * 2 ** max(0, failed_attempts - 1)))


def _builtins(value: Any) -> Any:
    return msgspec.to_builtins(value)


def _now() -> datetime:
    return datetime.now(UTC)


class RunCoordinator:
    """Owns run state transitions."""

    def __init__(
        self,
        persistence: Persistence,
        flowcharts: FlowchartRepository,
        bus: Bus,
        *,
        timeout_grace_seconds: float = 15.0,
    ) -> None:
        self._db = persistence.database
        self._store = persistence.event_store
        self._outbox = persistence.outbox
        self._relay = persistence.relay
        self._flowcharts = flowcharts
        self._bus = bus
        self._timeout_grace = timeout_grace_seconds
        self.on_wake: Callable[[datetime], None] | None = None
        self._groups = StepGroups(self._process_batch)
        self._requests = IdempotentRequests(idempotency)
        self.run_states = RunStates()
        """Each run's state as its last committed step here left it (see run_states.py)."""
        self.send_ahead = SendAheadPolicy()
        """When batches send their first statements ahead, and how many did (sent_ahead.py)."""

    # -- entry points ------------------------------------------------------------------------

    async def start_run(self, request: StartRun) -> RunRecord:
        """Create a run pinned to the flowchart's latest version and activate its start node.

        The same ``idempotency_key`` with the same flowchart and input always returns the same
        run; with another flowchart or input it is refused (``idempotency_mismatch``).
        """
        key = request.idempotency_key
        run_id = new_id()
        replayed: str | None = None
        writer: RunWriter | None = None
        async with self._db.transaction() as conn:
            if key:
                prior = await self._requests.begin(
                    conn, "run.start", key, request_fingerprint(request)
                )
                if prior is not NOT_SEEN:
                    replayed = str(prior["run_id"])
            if replayed is None:
                # one pooled connection throughout (see REQUEST_CONCURRENCY in app.py)
                flowchart_id = request.flowchart_id
                version, graph = await self._flowcharts.latest_graph(flowchart_id, conn)
                correlation_id = request.correlation_id or request.request_id or run_id
                trace = Trace(correlation_id=correlation_id, request_id=request.request_id)
                state = RunState()
                inserted = await conn.execute(
                    insert(runs)
                    .values(
                        id=run_id,
                        flowchart_id=flowchart_id,
                        flowchart_version=version,
                        status=RunStatus.RUNNING.value,
                        input=request.input,
                        state=msgspec.msgpack.encode(state),
                        idempotency_key=key,
                        correlation_id=correlation_id,
                        request_id=request.request_id,
                        deadline_at=run_deadline(graph),
                    )
                    .on_conflict_do_nothing(index_elements=[runs.c.idempotency_key])
                    .returning(runs.c.id)
                )
                if inserted.first() is not None:
                    facts = RunFacts(flowchart_id, version, dict(request.input))
                    writer = self._writer(conn, graph, run_id, 0, 0, state, trace, facts)
                    writer.emit(
                        MessageType.RUN_CREATED,
                        RunCreated(
                            flowchart_id=flowchart_id,
                            flowchart_version=version,
                            input=request.input,
                        ),
                    )
                    writer.emit(MessageType.RUN_STARTED, RunStarted(start_node_id=graph.start.id))
                    await self.queue(
                        writer, graph, start_activation(state, graph), facts.meta(run_id)
                    )
                    pending = await writer.flush()
                    created = await run_record_in(conn, run_id)
                else:
                    # A run started with this key before keys were remembered with their body.
                    replayed = (
                        await conn.execute(
                            sa.select(runs.c.id).where(runs.c.idempotency_key == key)
                        )
                    ).scalar_one()
                if key:
                    result = {"run_id": replayed or run_id}
                    await self._requests.finish(conn, "run.start", key, result)
        if replayed is not None or writer is None:
            return await run_record(self._db, replayed or run_id)
        await self.after_commit(writer, pending)
        return created  # the run as its creating transaction left it

    async def on_executed(self, envelope: Envelope) -> None:
        """A worker reported one attempt of a node run."""
        report = decode_payload(envelope, NodeExecuted)

        async def step(writer: RunWriter, graph: FlowchartGraph, _meta: dict[str, Any]) -> None:
            row = await self.node_run(writer, report.node_run_id)
            if not is_running(writer, row, report.node_run_id, report.attempt):
                return  # late, stale or superseded: a terminal state is never overwritten
            node = graph.nodes[row.node_id]
            await self.unschedule(writer.conn, "timeout", report.node_run_id, report.attempt)
            if report.artifact is not None:
                writer.artifacts.add(report.node_run_id, {"detail": report.artifact})
            if report.succeeded:
                status = (
                    NodeRunStatus.SUCCEEDED_WITH_WARNING
                    if report.warnings
                    else NodeRunStatus.SUCCEEDED
                )
                await self._succeed(
                    writer,
                    graph,
                    node,
                    report.node_run_id,
                    report.output,
                    status,
                    dict(row.input_context),
                    warnings=report.warnings,
                )
            else:
                error = report.error or ErrorBody(code=ErrorCode.INTERNAL, message="node failed")
                await self.attempt_failed(
                    writer, graph, node, report.node_run_id, report.attempt, error
                )
            await self.fill_slots(writer, graph)
            self.settle_pause(writer)

        await self._step(envelope, "orchestrator.exec", step)

    async def on_routed(self, envelope: Envelope) -> None:
        """The router decided which connectors of a finished node run fire."""
        decided = decode_payload(envelope, NodeRoutingDecided)

        async def step(writer: RunWriter, graph: FlowchartGraph, meta: dict[str, Any]) -> None:
            if decided.node_run_id not in writer.state.open_node_runs:
                return  # routed already (a re-route), or superseded by a rewind
            if decided.node_run_id in writer.state.ready + writer.state.in_flight:
                return  # re-queued by a control request after this decision was asked for
            node = graph.nodes[decided.node_id]
            routing = decided.routing_state
            writer.emit(
                MessageType.NODE_ROUTED,
                NodeRouted(node_run_id=decided.node_run_id, node_id=node.id, routing_state=routing),
                node_run_id=decided.node_run_id,
            )
            values: dict[str, Any] = {"routing_state": _builtins(routing)}
            if routing.fallback_used:
                values["status"] = NodeRunStatus.SUCCEEDED_WITH_WARNING.value
            self.update_node_run(writer, decided.node_run_id, **values)
            if decided.error is not None:
                await self.routing_failed(writer, node, decided.node_run_id, decided.error)
                return
            try:
                targets = fired_targets(graph, routing.matched_connector_ids)
            except EngineError as exc:  # a connector the pinned flowchart does not have
                error = ErrorBody(code=ErrorCode.CONFLICT, message=str(exc))
                await self.routing_failed(writer, node, decided.node_run_id, error)
                return
            try:
                if not writer.state.terminated:
                    await self.activate(writer, graph, targets, meta)
            except EngineError as exc:  # a guard: the run fails, the routed node run stands
                error = ErrorBody(code=ErrorCode.CONFLICT, message=str(exc))
                await self.fail_run(writer, error, decided.node_run_id)
                return
            await self.fill_slots(writer, graph)
            await self._maybe_complete(writer)
            self.settle_pause(writer)

        await self._step(envelope, "orchestrator.route", step)

    async def _step(self, envelope: Envelope, inbox_scope: str, body: Step) -> None:
        """Run ``body`` once per message on the locked run, in a transaction it may share with
        other messages, of this run and others, that arrived meanwhile (group commit)."""
        assert envelope.run_id is not None
        await self._groups.submit(envelope.run_id, QueuedStep(envelope, inbox_scope, body))

    async def _process_batch(self, batch: Batch) -> None:
        """One transaction for the batch. If it fails: each run's steps alone, and if that
        fails, each message alone, so one message that cannot be processed holds back
        neither the other runs nor its own run's other messages."""
        try:
            await self._transaction(batch)
        except Exception as exc:
            if len(batch) > 1:
                for run_id, steps in batch.items():
                    await self._process_batch({run_id: steps})
                return
            ((run_id, steps),) = batch.items()
            if len(steps) == 1:
                steps[0].settle(exc)
                return
            for step in steps:
                await self._process_batch({run_id: [step]})
            return
        for steps in batch.values():
            for step in steps:
                step.settle()

    async def _transaction(self, batch: Batch) -> None:
        known = self._known_runs(batch) if self.send_ahead.try_now() else None
        if known is not None:
            committed = await self._transaction_on_known_runs(batch, *known)
            self.send_ahead.record(committed=committed)
            if committed:
                return
        writers: list[RunWriter] = []
        # BEGIN travels with the claim and COMMIT with the writes: two round trips in all
        async with self._db.explicit_transaction() as conn:
            claimed, rows = await self._claim_and_lock(conn, batch)
            for run_id, steps in claimed.items():
                row = rows.get(run_id)
                if row is None:
                    continue  # the run is missing: nothing to do for these messages, ever
                loaded = await self._load(conn, row, Trace.caused_by(steps[0].envelope))
                if loaded is None:
                    continue
                writer, graph, meta = loaded
                await self._apply_steps(writer, graph, meta, steps)
                writers.append(writer)
            pending = await flush_writers(conn, writers, commit=True)
        await self._committed(writers, pending)

    def _known_runs(
        self, batch: Batch
    ) -> tuple[dict[str, KnownRun], dict[str, FlowchartGraph]] | None:
        """Every run of the batch as this service's last step of it left it, with its graph;
        ``None`` (and nothing taken) unless it knows them all."""
        known = self.run_states.take_all(batch)
        if known is None:
            return None
        graphs: dict[str, FlowchartGraph] = {}
        for run_id, run in known.items():
            facts = run.facts
            assert facts is not None  # take_all hands out only runs with their facts
            graph = self._flowcharts.cached_graph(facts.flowchart_id, facts.flowchart_version)
            if graph is None:  # dropped from the cache since: the usual path reads it
                for kept_id, kept in known.items():
                    self.run_states.keep(kept_id, kept)
                return None
            graphs[run_id] = graph
        return known, graphs

    async def _transaction_on_known_runs(
        self, batch: Batch, known: dict[str, KnownRun], graphs: dict[str, FlowchartGraph]
    ) -> bool:
        """The batch's transaction for runs this service knows (``_known_runs``), one round
        trip shorter: BEGIN, the row locks and the claims are sent, and the steps run while
        they travel; their writes and the COMMIT follow in the same pipeline.

        The lock statement fails unless every row still says what ``known`` says, and the
        claim (a plain insert) fails if a message was claimed before, so the transaction
        commits only what the usual path would have. A step that reads first waits for them
        (``RunWriter.reading``).

        Returns:
            ``False`` if the transaction was rolled back before its COMMIT (a run moved on,
            a message came again, or anything else failed): the caller runs the batch the
            usual way, from the rows. An error after the COMMIT is raised.
        """
        unique = _unique_steps(batch)
        writers: list[RunWriter] = []
        committed = False
        try:
            async with self._db.explicit_transaction() as conn:
                async with SentAhead(await driver_connection(conn)) as sent:
                    await sent.send_begin(known, unique)
                    for run_id, steps in _by_run(unique).items():
                        run, graph = known[run_id], graphs[run_id]
                        assert run.facts is not None
                        writer = self._writer(
                            conn,
                            graph,
                            run_id,
                            run.last_sequence,
                            run.state_sequence,
                            run.state,
                            Trace.caused_by(steps[0].envelope),
                            run.facts,
                            run.status,
                        )
                        writer.before_read = sent.wait
                        await self._apply_steps(writer, graph, run.facts.meta(run_id), steps)
                        writers.append(writer)
                    await sent.resume()  # if a step read: the writes still travel together
                    outbox = await queue_writes(conn, writers, commit=True)
                committed = True  # every answer read without an error, the COMMIT's too
                pending = await outbox.written()
        except Exception as exc:
            if committed:
                raise
            logger.debug("a step sent ahead was rolled back (%s): retrying it from the rows", exc)
            return False
        await self._committed(writers, pending)
        return True

    async def _apply_steps(
        self,
        writer: RunWriter,
        graph: FlowchartGraph,
        meta: dict[str, Any],
        steps: list[QueuedStep],
    ) -> None:
        """Run the claimed steps of one run, in arrival order, on its writer."""
        for step in steps:
            if writer.current_status in _TERMINAL_RUN:
                break  # a terminal run takes no more effects (the claims stay)
            writer.trace = Trace.caused_by(step.envelope)
            await step.body(writer, graph, meta)

    async def _committed(self, writers: list[RunWriter], pending: list[PendingMessage]) -> None:
        """After a batch's COMMIT: publish its outbox rows and apply each run's effects."""
        self._relay.enqueue(pending)
        for writer in writers:
            await self._after_commit_effects(writer)

    @staticmethod
    async def _claim_and_lock(
        conn: AsyncConnection, batch: Batch
    ) -> tuple[dict[str, list[QueuedStep]], dict[str, Any]]:
        """Open the explicit transaction of ``conn``, claim the batch's messages in the inbox
        and lock its runs' rows (in id order, so two batches never deadlock on each other):
        BEGIN and one statement, in one round trip.

        Returns:
            By run id, the steps whose message was claimed now (a message that appears twice
            counts once), in arrival order; and the locked run rows by run id (a missing run
            has none).
        """
        unique = _unique_steps(batch)
        driver = await driver_connection(conn)
        async with driver.pipeline(), driver.cursor(row_factory=namedtuple_row) as cursor:
            await driver.execute(BEGIN, prepare=False)
            await cursor.execute(_CLAIM_AND_LOCK, {**claims(unique), "run_ids": list(batch)})
            locked: list[Any] = await cursor.fetchall()
        rows = {row.id: row for row in locked}
        if locked:
            keys = {tuple(k.split(_KEY_SEPARATOR, 1)) for k in locked[0].claimed_keys or []}
        else:
            keys = set(unique)  # no run exists: nothing to process, the claims stand anyway
        claimed = _by_run({key: value for key, value in unique.items() if key in keys})
        return claimed, rows

    async def after_commit(self, writer: RunWriter, pending: list[PendingMessage]) -> None:
        """Publish what a committed step queued, stop cancelled work, wake for its timers."""
        self._relay.enqueue(pending)
        await self._after_commit_effects(writer)

    async def _after_commit_effects(self, writer: RunWriter) -> None:
        """Keep the run's state for its next step, stop the work a committed step cancelled
        and wake for the timers it set."""
        if writer.current_status in _TERMINAL_RUN:
            self.run_states.forget(writer.run_id)
        else:
            self.run_states.keep(writer.run_id, writer.known())
        await tell_workers_to_stop(self._bus, writer.run_id, writer.stop_node_runs)
        if writer.wake_at is not None and self.on_wake is not None:
            self.on_wake(writer.wake_at)

    # -- steps -------------------------------------------------------------------------------

    async def activate(
        self,
        writer: RunWriter,
        graph: FlowchartGraph,
        targets: list[str],
        meta: dict[str, Any],
    ) -> None:
        """Activate each target as many times as its queued tokens allow.

        Raises:
            EngineError: the max node executions guard was reached.
        """
        for target in targets:
            while (activation := next_activation(writer.state, graph, target)) is not None:
                await self.queue(writer, graph, activation, meta)

    async def queue(
        self,
        writer: RunWriter,
        graph: FlowchartGraph,
        activation: Activation,
        meta: dict[str, Any],
    ) -> None:
        """Record one activation as a new node run (``node.queued``) and launch it."""
        node = graph.nodes[activation.node_id]
        node_run_id = deterministic_id(writer.run_id, node.id, str(activation.execution_index))
        context = build_context(writer.state, graph, activation, run=meta, node_run_id=node_run_id)
        node_type = type(node).__struct_config__.tag
        assert isinstance(node_type, str)
        # an inline node that runs now is written once, finished (one statement, not two)
        inline_output = (
            _inline_output(context)
            if isinstance(node, _INLINE) and writer.current_status not in _HOLDING
            else None
        )
        writer.node_runs.insert(
            {
                "id": node_run_id,
                "run_id": writer.run_id,
                "node_id": node.id,
                "node_type": node_type,
                "execution_index": activation.execution_index,
                "status": NodeRunStatus.QUEUED.value
                if inline_output is None
                else NodeRunStatus.SUCCEEDED.value,
                "attempt": 0 if inline_output is None else 1,
                "input_context": context,
                "output": inline_output,
            }
        )
        writer.emit(
            MessageType.NODE_QUEUED,
            NodeQueued(
                node_run_id=node_run_id,
                node_id=node.id,
                node_type=node_type,
                execution_index=activation.execution_index,
                consumed_connector_ids=[t.connector_id for t in activation.consumed],
                input_context=context,
            ),
            node_run_id=node_run_id,
        )
        if inline_output is None:
            await self._launch(writer, graph, node, node_run_id, context)
        else:
            await self._succeed(
                writer,
                graph,
                node,
                node_run_id,
                inline_output,
                NodeRunStatus.SUCCEEDED,
                context,
                persisted=True,
            )

    async def _launch(
        self,
        writer: RunWriter,
        graph: FlowchartGraph,
        node: Node,
        node_run_id: str,
        context: dict[str, Any],
    ) -> None:
        """Execute a ready inline node or dispatch a ready node run when a slot is free.

        Otherwise it stays ready: while the run is pausing/paused, or over the parallel limit.
        """
        state = writer.state
        if writer.current_status in _HOLDING:
            return
        if isinstance(node, _INLINE):
            output = _inline_output(context)
            await self._succeed(
                writer, graph, node, node_run_id, output, NodeRunStatus.SUCCEEDED, context
            )
        elif len(state.in_flight) < graph.definition.limits.max_parallel_nodes:
            attempt = state.attempts_before.get(node_run_id, 0) + 1
            await self.dispatch(writer, graph, node, node_run_id, context, attempt=attempt)

    async def fill_slots(self, writer: RunWriter, graph: FlowchartGraph) -> None:
        """Launch ready node runs, oldest first, while the run may and slots are free."""
        state = writer.state
        limit = graph.definition.limits.max_parallel_nodes
        while state.ready and writer.current_status not in _HOLDING | _TERMINAL_RUN:
            free = limit - len(state.in_flight)
            if free <= 0:
                return
            batch = state.ready[:free]
            rows = await self.node_runs_by_id(writer, batch)
            for ready_id in batch:
                if writer.current_status in _TERMINAL_RUN:
                    return  # a launch failed the run (a command too large to send)
                row = rows[ready_id]
                await self._launch(
                    writer, graph, graph.nodes[row.node_id], ready_id, dict(row.input_context)
                )

    def settle_pause(self, writer: RunWriter) -> None:
        """A pausing run with nothing in flight and nothing awaiting routing becomes paused
        (the ``run.controlled`` event names the pause request)."""
        state = writer.state
        if writer.current_status == RunStatus.PAUSING.value and set(state.open_node_runs) <= set(
            state.ready
        ):
            writer.record_control("pause", RunStatus.PAUSED.value, state.pause_request_id or "")

    async def dispatch(
        self,
        writer: RunWriter,
        graph: FlowchartGraph,
        node: Node,
        node_run_id: str,
        context: dict[str, Any],
        *,
        attempt: int,
    ) -> None:
        """Send one attempt of a node run to its worker class; its timeout timer starts."""
        worker = worker_for(node)
        timeout = node.timeout_seconds or graph.definition.defaults.timeout_seconds
        try:
            writer.command(
                subjects.execute_command(worker),
                MessageType.EXECUTE_NODE,
                ExecuteNode(
                    node_run_id=node_run_id,
                    attempt=attempt,
                    node=node,
                    input_context=context,
                    timeout_seconds=timeout,
                ),
                idempotency_key=f"execute:{node_run_id}:attempt:{attempt}",
                node_run_id=node_run_id,
            )
        except CommandTooLarge as exc:  # no worker could be sent it: fails at once
            await self.fail_node_run(writer, node, node_run_id, attempt, exc.body)
            return
        writer.emit(
            MessageType.NODE_DISPATCHED,
            NodeDispatched(
                node_run_id=node_run_id, node_id=node.id, worker=worker, attempt=attempt
            ),
            node_run_id=node_run_id,
        )
        self.update_node_run(
            writer,
            node_run_id,
            status=NodeRunStatus.DISPATCHED.value,
            attempt=attempt,
        )
        due = _now() + timedelta(seconds=timeout + self._timeout_grace)
        await self._schedule(writer, "timeout", node_run_id, attempt, due)

    async def attempt_failed(
        self,
        writer: RunWriter,
        graph: FlowchartGraph,
        node: Node,
        node_run_id: str,
        attempt: int,
        error: ErrorBody,
    ) -> None:
        """Retry the node run after its backoff (at once without one) while attempts remain,
        else fail the run.

        A provider/model ``unavailable`` error fails it at once: no retry, no fallback.
        """
        max_attempts = node.max_attempts or graph.definition.defaults.max_attempts
        made = attempt - writer.state.attempts_before.get(node_run_id, 0)
        if made >= max_attempts or error.code is ErrorCode.UNAVAILABLE:
            await self.fail_node_run(writer, node, node_run_id, attempt, error)
            return
        backoff = node.retry_backoff_ms
        if backoff is None:
            backoff = graph.definition.defaults.retry_backoff_ms
        delay = retry_delay_ms(backoff, made)
        writer.emit(
            MessageType.NODE_RETRY_SCHEDULED,
            NodeRetryScheduled(
                node_run_id=node_run_id,
                node_id=node.id,
                attempt=attempt,
                error=error,
                next_attempt=attempt + 1,
                delay_ms=delay,
            ),
            node_run_id=node_run_id,
        )
        self.update_node_run(
            writer, node_run_id, status=NodeRunStatus.QUEUED.value, error=_builtins(error)
        )
        if delay == 0:
            row = await self.node_run(writer, node_run_id)
            await self.dispatch(
                writer, graph, node, node_run_id, dict(row.input_context), attempt=attempt + 1
            )
            return
        due = _now() + timedelta(milliseconds=delay)
        await self._schedule(writer, "retry", node_run_id, attempt + 1, due)

    async def fail_node_run(
        self, writer: RunWriter, node: Node, node_run_id: str, attempt: int, error: ErrorBody
    ) -> None:
        """The node run fails for good (no retry), and the run with it."""
        writer.emit(
            MessageType.NODE_FAILED,
            NodeFailed(node_run_id=node_run_id, node_id=node.id, error=error, attempt=attempt),
            node_run_id=node_run_id,
        )
        self.update_node_run(
            writer, node_run_id, status=NodeRunStatus.FAILED.value, error=_builtins(error)
        )
        await self.fail_run(writer, error, node_run_id)

    async def _succeed(
        self,
        writer: RunWriter,
        graph: FlowchartGraph,
        node: Node,
        node_run_id: str,
        output: dict[str, Any],
        status: NodeRunStatus,
        context: dict[str, Any],
        *,
        warnings: list[str] | None = None,
        persisted: bool = False,
    ) -> None:
        """Record a node run's success and ask for its routing (``persisted``: its row was
        written finished already)."""
        writer.emit(
            MessageType.NODE_SUCCEEDED,
            NodeSucceeded(
                node_run_id=node_run_id,
                node_id=node.id,
                status=status,
                output=output,
                warnings=warnings or [],
            ),
            node_run_id=node_run_id,
        )
        if not persisted:
            values: dict[str, Any] = {"status": status.value, "output": output}
            if isinstance(node, _INLINE):
                values["attempt"] = 1
            self.update_node_run(writer, node_run_id, **values)
        try:
            self.route(writer, graph, node, node_run_id, output, context)
        except CommandTooLarge as exc:  # the router cannot be asked: the node run fails
            await self.routing_failed(writer, node, node_run_id, exc.body)

    def route(
        self,
        writer: RunWriter,
        graph: FlowchartGraph,
        node: Node,
        node_run_id: str,
        output: dict[str, Any],
        context: dict[str, Any],
        *,
        request_id: str | None = None,
    ) -> None:
        """Ask the router which connectors fire; a control request asks again with its id.

        Raises:
            CommandTooLarge: The node's output and context are too large to send.
        """
        key = f"route:{node_run_id}" if request_id is None else f"route:{node_run_id}:{request_id}"
        writer.command(
            subjects.route_command(),
            MessageType.ROUTE_NODE,
            RouteNode(
                node_run_id=node_run_id,
                node=node,
                output=output,
                context=context,
                outgoing=graph.solid_out[node.id],
            ),
            idempotency_key=key,
            node_run_id=node_run_id,
        )

    async def routing_failed(
        self, writer: RunWriter, node: Node, node_run_id: str, error: ErrorBody
    ) -> None:
        """The node run's routing cannot be resolved (no match under ``fail``, a condition that
        cannot be evaluated, an unknown connector): the node run fails, and so does the run,
        at once (no retry: routing is deterministic)."""
        conn = await writer.reading()
        attempt = (
            await conn.execute(sa.select(node_runs.c.attempt).where(node_runs.c.id == node_run_id))
        ).scalar_one()
        await self.fail_node_run(writer, node, node_run_id, attempt, error)

    async def fail_run(
        self, writer: RunWriter, error: ErrorBody, failed_node_run_id: str | None
    ) -> None:
        """Fail the run (fail-fast): node runs still queued or in flight end ``cancelled``."""
        cancelled = await self.cancel_node_runs(writer)
        writer.emit(
            MessageType.RUN_FAILED,
            RunFailed(
                error=error,
                failed_node_run_id=failed_node_run_id,
                node_executions=writer.state.node_executions,
                unconsumed_tokens=unconsumed_tokens(writer.state),
                cancelled_node_run_ids=cancelled,
            ),
        )
        writer.set_status(RunStatus.FAILED.value)
        writer.error = _builtins(error)

    async def cancel_node_runs(self, writer: RunWriter, *, everything: bool = False) -> list[str]:
        """Mark the run's ready and in-flight node runs (with ``everything``, every open one
        not yet finished) ``cancelled``; their workers are told to stop after commit.

        Returns:
            The cancelled node run ids; the caller records them in its event.
        """
        state = writer.state
        ids = list(state.open_node_runs) if everything else state.in_flight + state.ready
        if not ids:
            return []
        conn = await writer.reading()  # the update returns rows
        result = await conn.execute(
            sa.update(node_runs)
            .where(
                node_runs.c.id.in_(ids),
                node_runs.c.status.in_([NodeRunStatus.QUEUED.value, *sorted(_RUNNING_NODE)]),
            )
            .values(status=NodeRunStatus.CANCELLED.value, updated_at=_now())
            .returning(node_runs.c.id, node_runs.c.attempt)
        )
        attempts = {row.id: row.attempt for row in result}
        writer.stop_node_runs.update(
            (node_run_id, attempt)
            for node_run_id, attempt in attempts.items()
            if node_run_id in state.in_flight
        )
        return sorted(attempts)

    async def _maybe_complete(self, writer: RunWriter) -> None:
        if writer.current_status in _TERMINAL_RUN:
            return  # failed in this step already
        reason = completion(writer.state)
        if reason is None:
            return
        cancelled = await self.cancel_node_runs(writer) if reason == "terminated" else []
        tokens = unconsumed_tokens(writer.state)
        writer.emit(
            MessageType.RUN_SUCCEEDED,
            RunSucceeded(
                reason=reason,
                node_executions=writer.state.node_executions,
                unconsumed_tokens=tokens,
                cancelled_node_run_ids=cancelled,
            ),
        )
        writer.set_status(RunStatus.SUCCEEDED.value)
        writer.outcome = {"reason": reason, "unconsumed_tokens": _builtins(tokens)}

    async def _schedule(
        self, writer: RunWriter, kind: str, node_run_id: str, attempt: int, due: datetime
    ) -> None:
        driver = await driver_connection(writer.conn)
        await driver.execute(
            _SCHEDULE,
            {
                "id": f"{kind}:{node_run_id}:{attempt}",
                "run_id": writer.run_id,
                "node_run_id": node_run_id,
                "kind": kind,
                "attempt": attempt,
                "due_at": due,
            },
        )
        writer.wake(due)

    @staticmethod
    async def unschedule(conn: AsyncConnection, kind: str, node_run_id: str, attempt: int) -> None:
        """Drop a timer that no longer matters (its attempt reported in time)."""
        driver = await driver_connection(conn)
        await driver.execute(_UNSCHEDULE, {"id": f"{kind}:{node_run_id}:{attempt}"})

    # -- persistence helpers -----------------------------------------------------------------

    def _writer(
        self,
        conn: AsyncConnection,
        graph: FlowchartGraph,
        run_id: str,
        last_sequence: int,
        state_sequence: int,
        state: RunState,
        trace: Trace,
        facts: RunFacts,
        current_status: str = RunStatus.RUNNING.value,
    ) -> RunWriter:
        return RunWriter(
            conn,
            graph=graph,
            run_id=run_id,
            last_sequence=last_sequence,
            state_sequence=state_sequence,
            current_status=current_status,
            state=state,
            trace=trace,
            event_store=self._store,
            outbox=self._outbox,
            command_limit=message_limit(self._bus),
            facts=facts,
        )

    async def lock_run(
        self,
        conn: AsyncConnection,
        run_id: str,
        trace: Trace | None = None,
        *,
        causation_id: str | None = None,
        request_id: str | None = None,
        terminal_too: bool = False,
    ) -> tuple[RunWriter, FlowchartGraph, dict[str, Any]] | None:
        """Lock a run's row and load its state.

        The writer's trace is ``trace``, or else the run's correlation id with
        ``causation_id``/``request_id`` (for steps not caused by a bus message).

        Returns:
            ``None`` when the run is missing, or terminal unless ``terminal_too``.
        """
        row = (
            await conn.execute(sa.select(*RUN_COLUMNS).where(runs.c.id == run_id).with_for_update())
        ).first()
        if row is None:
            return None
        return await self._load(
            conn,
            row,
            trace,
            causation_id=causation_id,
            request_id=request_id,
            terminal_too=terminal_too,
        )

    async def _load(
        self,
        conn: AsyncConnection,
        row: Any,
        trace: Trace | None = None,
        *,
        causation_id: str | None = None,
        request_id: str | None = None,
        terminal_too: bool = False,
    ) -> tuple[RunWriter, FlowchartGraph, dict[str, Any]] | None:
        """The writer, graph and metadata of a locked run row (see :meth:`lock_run`)."""
        run_id = row.id
        if row.status in _TERMINAL_RUN and not terminal_too:
            return None
        if trace is None:
            trace = Trace(
                correlation_id=row.correlation_id, causation_id=causation_id, request_id=request_id
            )
        graph = await self._flowcharts.graph(row.flowchart_id, row.flowchart_version, conn)
        state = self.run_states.take(run_id, row.last_sequence)
        if state is None:
            state = await load_state(conn, self._store, graph, run_id, row.last_sequence)
        facts = RunFacts(row.flowchart_id, row.flowchart_version, dict(row.input))
        writer = self._writer(
            conn,
            graph,
            run_id,
            row.last_sequence,
            row.state_sequence,
            state,
            trace,
            facts,
            row.status,
        )
        return writer, graph, facts.meta(run_id)

    @classmethod
    async def node_run(cls, writer: RunWriter, node_run_id: str) -> Any:
        """One node run's row (see ``node_runs_by_id``), or ``None``."""
        return (await cls.node_runs_by_id(writer, [node_run_id])).get(node_run_id)

    @staticmethod
    async def node_runs_by_id(writer: RunWriter, ids: list[str]) -> dict[str, Any]:
        """Run, node, status, attempt, input context, output and superseded flag of node runs,
        by node run id (the run's buffered node-run writes are written first)."""
        conn = await writer.reading()
        rows = await conn.execute(
            sa.select(
                node_runs.c.id,
                node_runs.c.run_id,
                node_runs.c.node_id,
                node_runs.c.status,
                node_runs.c.attempt,
                node_runs.c.input_context,
                node_runs.c.output,
                node_runs.c.superseded,
            ).where(node_runs.c.id.in_(ids))
        )
        return {row.id: row for row in rows}

    @staticmethod
    def update_node_run(writer: RunWriter, node_run_id: str, **values: Any) -> None:
        """Change one node run's projection columns (buffered: see ``node_run_writes``)."""
        writer.node_runs.update(node_run_id, values)


UniqueSteps = dict[tuple[str, str], tuple[str, QueuedStep]]
"""A batch's steps by (inbox scope, message id), each with its run id."""


def _unique_steps(batch: Batch) -> UniqueSteps:
    """The batch's steps, a message that appears twice counted once (its first step)."""
    unique: UniqueSteps = {}
    for run_id, steps in batch.items():
        for step in steps:
            unique.setdefault((step.inbox_scope, step.envelope.idempotency_key), (run_id, step))
    return unique


def _by_run(unique: UniqueSteps) -> dict[str, list[QueuedStep]]:
    """The steps by run id, in arrival order."""
    steps: dict[str, list[QueuedStep]] = {}
    for run_id, step in unique.values():
        steps.setdefault(run_id, []).append(step)
    return steps


def is_running(writer: RunWriter, row: Any, node_run_id: str, attempt: int) -> bool:
    """Whether ``attempt`` of the node run is the one in flight now."""
    return (
        row is not None
        and row.status in _RUNNING_NODE
        and row.attempt == attempt
        and node_run_id in writer.state.in_flight
    )


def run_deadline(graph: FlowchartGraph) -> datetime | None:
    """When a run of ``graph`` started (or revived) now must end (its max runtime guard)."""
    limit = graph.definition.limits.max_runtime_seconds
    return None if limit is None else _now() + timedelta(seconds=limit)


def _inline_output(context: dict[str, Any]) -> dict[str, Any]:
    """Start, end and decision nodes pass their latest upstream output through."""
    latest = context.get("latest_upstream")
    if latest is None:
        run_input = context["run"]["input"]
        return dict(run_input) if isinstance(run_input, dict) else {"input": run_input}
    output = latest.get("output")
    return dict(output) if isinstance(output, dict) else {"value": output}
