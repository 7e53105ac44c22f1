"""Run lifecycle: start runs, take worker and router reports, activate and dispatch nodes.

Every handler runs in one transaction that locks the run row, claims the incoming message in
the inbox, appends the resulting run events, queues commands in the outbox and saves the state.
A crash anywhere rolls the whole step back; the redelivered message then redoes it once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import sqlalchemy as sa
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
    NodeRouted,
    NodeRoutingDecided,
    NodeSucceeded,
    RunCreated,
    RunFailed,
    RunStarted,
    RunSucceeded,
)
from llmctl_contracts.flowchart import DecisionNode, EndNode, Node, StartNode
from llmctl_contracts.rpc import GetById, RunRecord, StartRun
from llmctl_contracts.statuses import TERMINAL_RUN_STATUSES
from llmctl_libs.ids import deterministic_id, new_id
from llmctl_libs.messages import Trace
from llmctl_libs.service import Persistence
from llmctl_libs.store import PendingMessage

from .engine import Activation, EngineError, FlowchartGraph, RunState, activate_start, apply_routing
from .engine.activation import completion, record_output, unconsumed_tokens
from .engine.context import build_context
from .flowcharts import FlowchartRepository
from .queries import run_record
from .tables import node_runs, runs
from .writer import RunWriter

__all__ = ["RunCoordinator", "worker_for"]

_INLINE = (StartNode, EndNode, DecisionNode)
_HOLDING = {RunStatus.PAUSING.value, RunStatus.PAUSED.value}
_TERMINAL_RUN = {s.value for s in TERMINAL_RUN_STATUSES}
_TERMINAL_NODE = {"succeeded", "succeeded_with_warning", "failed", "cancelled", "skipped"}


def worker_for(node: Node) -> str:
    """Which worker class executes a non-inline node."""
    executor_class = getattr(node, "executor_class", None)
    return executor_class if isinstance(executor_class, str) else "toolhub"


def _builtins(value: Any) -> Any:
    return msgspec.to_builtins(value)


class RunCoordinator:
    """Owns run state transitions."""

    def __init__(self, persistence: Persistence, flowcharts: FlowchartRepository) -> None:
        self._db = persistence.database
        self._store = persistence.event_store
        self._outbox = persistence.outbox
        self._inbox = persistence.inbox
        self._relay = persistence.relay
        self._flowcharts = flowcharts

    # -- entry points ------------------------------------------------------------------------

    async def start_run(self, request: StartRun) -> RunRecord:
        """Create a run pinned to the flowchart's latest version and activate its start node.

        The same ``idempotency_key`` always returns the same run.
        """
        if request.idempotency_key:
            existing = await self._run_by_key(request.idempotency_key)
            if existing is not None:
                return existing
        record = await self._flowcharts.get(GetById(id=request.flowchart_id))
        graph = await self._flowcharts.graph(record.id, record.version)
        run_id = new_id()
        correlation_id = request.correlation_id or request.request_id or run_id
        trace = Trace(correlation_id=correlation_id, request_id=request.request_id)
        state = RunState()
        pending: list[PendingMessage] = []
        async with self._db.transaction() as conn:
            inserted = await conn.execute(
                insert(runs)
                .values(
                    id=run_id,
                    flowchart_id=record.id,
                    flowchart_version=record.version,
                    status=RunStatus.RUNNING.value,
                    input=request.input,
                    state=msgspec.msgpack.encode(state),
                    idempotency_key=request.idempotency_key,
                    correlation_id=correlation_id,
                    request_id=request.request_id,
                    deadline_at=_deadline(graph),
                )
                .on_conflict_do_nothing(index_elements=[runs.c.idempotency_key])
                .returning(runs.c.id)
            )
            if inserted.first() is None:
                run_id = ""
            else:
                writer = self._writer(conn, run_id, 0, state, trace)
                writer.emit(
                    MessageType.RUN_CREATED,
                    RunCreated(
                        flowchart_id=record.id,
                        flowchart_version=record.version,
                        input=request.input,
                    ),
                )
                writer.emit(MessageType.RUN_STARTED, RunStarted(start_node_id=graph.start.id))
                await self._activate(
                    writer,
                    graph,
                    [activate_start(state, graph)],
                    self._run_meta(run_id, record.id, record.version, request.input),
                )
                pending = await writer.flush()
        self._relay.enqueue(pending)
        if not run_id and request.idempotency_key:
            existing = await self._run_by_key(request.idempotency_key)
            assert existing is not None
            return existing
        return await run_record(self._db, run_id)

    async def on_executed(self, envelope: Envelope) -> None:
        """A worker reported one attempt of a node run."""
        report = decode_payload(envelope, NodeExecuted)
        assert envelope.run_id is not None
        pending: list[PendingMessage] = []
        async with self._db.transaction() as conn:
            if not await self._inbox.claim(conn, "orchestrator.exec", envelope.idempotency_key):
                return
            loaded = await self.lock_run(conn, envelope.run_id, Trace.caused_by(envelope))
            if loaded is None:
                return
            writer, graph, _meta = loaded
            row = await self._node_run(conn, report.node_run_id)
            if row is None or row.status in _TERMINAL_NODE or row.attempt != report.attempt:
                return  # late or stale report: a terminal state is never overwritten
            node = graph.nodes[row.node_id]
            finished = True
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
                max_attempts = node.max_attempts or graph.definition.defaults.max_attempts
                # provider/model unavailable fails the node at once: no retry, no fallback
                if report.attempt < max_attempts and error.code is not ErrorCode.UNAVAILABLE:
                    finished = False  # the retry keeps its parallel slot
                    await self._dispatch(
                        writer,
                        graph,
                        node,
                        report.node_run_id,
                        dict(row.input_context),
                        attempt=report.attempt + 1,
                    )
                else:
                    await self._fail(writer, node, report.node_run_id, error, report.attempt)
            if finished and writer.current_status not in _TERMINAL_RUN:
                await self._release_slot(writer, graph, report.node_run_id)
            self.settle_pause(writer, envelope.request_id or "")
            pending = await writer.flush()
        self._relay.enqueue(pending)

    async def on_routed(self, envelope: Envelope) -> None:
        """The router decided which connectors of a finished node run fire."""
        decided = decode_payload(envelope, NodeRoutingDecided)
        assert envelope.run_id is not None
        pending: list[PendingMessage] = []
        async with self._db.transaction() as conn:
            if not await self._inbox.claim(conn, "orchestrator.route", envelope.idempotency_key):
                return
            loaded = await self.lock_run(conn, envelope.run_id, Trace.caused_by(envelope))
            if loaded is None:
                return
            writer, graph, meta = loaded
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
            await self._update_node_run(conn, decided.node_run_id, **values)
            if decided.error is not None:
                await self._fail(
                    writer, node, decided.node_run_id, decided.error, 1, node_status=None
                )
            else:
                if routing.terminate_run:
                    writer.state.terminated = True
                try:
                    activations = apply_routing(
                        writer.state, graph, decided.node_run_id, routing.matched_connector_ids
                    )
                except EngineError as exc:
                    await self._fail(
                        writer,
                        node,
                        decided.node_run_id,
                        ErrorBody(code=ErrorCode.CONFLICT, message=str(exc)),
                        1,
                        node_status=None,
                    )
                else:
                    if not writer.state.terminated:
                        await self._activate(writer, graph, activations, meta)
                    self._maybe_complete(writer)
                    self.settle_pause(writer, envelope.request_id or "")
            pending = await writer.flush()
        self._relay.enqueue(pending)

    # -- steps -------------------------------------------------------------------------------

    async def _activate(
        self,
        writer: RunWriter,
        graph: FlowchartGraph,
        activations: list[Activation],
        meta: dict[str, Any],
    ) -> None:
        for activation in activations:
            node = graph.nodes[activation.node_id]
            node_run_id = deterministic_id(writer.run_id, node.id, str(activation.execution_index))
            context = build_context(
                writer.state, graph, activation, run=meta, node_run_id=node_run_id
            )
            node_type = type(node).__struct_config__.tag
            assert isinstance(node_type, str)
            await writer.conn.execute(
                sa.insert(node_runs).values(
                    id=node_run_id,
                    run_id=writer.run_id,
                    node_id=node.id,
                    node_type=node_type,
                    execution_index=activation.execution_index,
                    status=NodeRunStatus.QUEUED.value,
                    input_context=context,
                )
            )
            writer.state.open_node_runs.append(node_run_id)
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
            await self.launch(writer, graph, node, node_run_id, context)

    async def launch(
        self,
        writer: RunWriter,
        graph: FlowchartGraph,
        node: Node,
        node_run_id: str,
        context: dict[str, Any],
    ) -> None:
        """Execute an inline node or dispatch it; hold it while the run is pausing/paused."""
        state = writer.state
        if writer.current_status in _HOLDING:
            state.held.append(node_run_id)
        elif isinstance(node, _INLINE):
            output = _inline_output(context)
            await self._succeed(
                writer, graph, node, node_run_id, output, NodeRunStatus.SUCCEEDED, context
            )
        elif len(state.in_flight) >= graph.definition.limits.max_parallel_nodes:
            state.waiting.append(node_run_id)
        else:
            state.in_flight.append(node_run_id)
            await self._dispatch(writer, graph, node, node_run_id, context, attempt=1)

    async def _release_slot(
        self, writer: RunWriter, graph: FlowchartGraph, node_run_id: str
    ) -> None:
        """A dispatched node run finished: launch waiting node runs into the freed slots."""
        state = writer.state
        if node_run_id in state.in_flight:
            state.in_flight.remove(node_run_id)
        limit = graph.definition.limits.max_parallel_nodes
        free = limit - len(state.in_flight)
        if free <= 0 or not state.waiting or writer.current_status in _HOLDING:
            return
        ready, state.waiting = state.waiting[:free], state.waiting[free:]
        rows = await self.node_runs_by_id(writer.conn, ready)
        for ready_id in ready:
            row = rows[ready_id]
            await self.launch(
                writer, graph, graph.nodes[row.node_id], ready_id, dict(row.input_context)
            )

    def settle_pause(self, writer: RunWriter, request_id: str) -> None:
        """A pausing run whose in-flight node runs have all settled becomes paused."""
        state = writer.state
        if writer.current_status == RunStatus.PAUSING.value and set(state.open_node_runs) <= set(
            state.held
        ):
            writer.record_control("pause", RunStatus.PAUSED.value, request_id)

    async def _dispatch(
        self,
        writer: RunWriter,
        graph: FlowchartGraph,
        node: Node,
        node_run_id: str,
        context: dict[str, Any],
        *,
        attempt: int,
    ) -> None:
        worker = worker_for(node)
        timeout = node.timeout_seconds or graph.definition.defaults.timeout_seconds
        writer.emit(
            MessageType.NODE_DISPATCHED,
            NodeDispatched(
                node_run_id=node_run_id, node_id=node.id, worker=worker, attempt=attempt
            ),
            node_run_id=node_run_id,
        )
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
        await self._update_node_run(
            writer.conn, node_run_id, status=NodeRunStatus.DISPATCHED.value, attempt=attempt
        )

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
    ) -> None:
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
        record_output(writer.state, node.id, node_run_id, output)
        await self._update_node_run(writer.conn, node_run_id, status=status.value, output=output)
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
            idempotency_key=f"route:{node_run_id}",
            node_run_id=node_run_id,
        )

    async def _fail(
        self,
        writer: RunWriter,
        node: Node,
        node_run_id: str,
        error: ErrorBody,
        attempt: int,
        *,
        node_status: str | None = NodeRunStatus.FAILED.value,
    ) -> None:
        if node_status is not None:
            writer.emit(
                MessageType.NODE_FAILED,
                NodeFailed(node_run_id=node_run_id, node_id=node.id, error=error, attempt=attempt),
                node_run_id=node_run_id,
            )
            await self._update_node_run(
                writer.conn, node_run_id, status=node_status, error=_builtins(error)
            )
        if node_run_id in writer.state.open_node_runs:
            writer.state.open_node_runs.remove(node_run_id)
        writer.emit(
            MessageType.RUN_FAILED,
            RunFailed(
                error=error,
                failed_node_run_id=node_run_id,
                node_executions=writer.state.node_executions,
                unconsumed_tokens=unconsumed_tokens(writer.state),
            ),
        )
        writer.set_status(RunStatus.FAILED.value)
        writer.error = _builtins(error)

    def _maybe_complete(self, writer: RunWriter) -> None:
        reason = completion(writer.state)
        if reason is None:
            return
        tokens = unconsumed_tokens(writer.state)
        writer.emit(
            MessageType.RUN_SUCCEEDED,
            RunSucceeded(
                reason=reason,
                node_executions=writer.state.node_executions,
                unconsumed_tokens=tokens,
            ),
        )
        writer.set_status(RunStatus.SUCCEEDED.value)
        writer.outcome = {"reason": reason, "unconsumed_tokens": _builtins(tokens)}

    # -- persistence helpers -----------------------------------------------------------------

    def _writer(
        self,
        conn: AsyncConnection,
        run_id: str,
        last_sequence: int,
        state: RunState,
        trace: Trace,
        current_status: str = RunStatus.RUNNING.value,
    ) -> RunWriter:
        return RunWriter(
            conn,
            run_id=run_id,
            last_sequence=last_sequence,
            current_status=current_status,
            state=state,
            trace=trace,
            event_store=self._store,
            outbox=self._outbox,
        )

    @staticmethod
    def _run_meta(
        run_id: str, flowchart_id: str, version: int, run_input: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            "id": run_id,
            "flowchart_id": flowchart_id,
            "flowchart_version": version,
            "input": run_input,
        }

    async def lock_run(
        self, conn: AsyncConnection, run_id: str, trace: Trace
    ) -> tuple[RunWriter, FlowchartGraph, dict[str, Any]] | None:
        """Lock a non-terminal run's row and load its state (``None``: missing or terminal)."""
        row = (
            await conn.execute(sa.select(runs).where(runs.c.id == run_id).with_for_update())
        ).first()
        if row is None or row.status in _TERMINAL_RUN:
            return None
        state = msgspec.msgpack.decode(row.state, type=RunState)
        graph = await self._flowcharts.graph(row.flowchart_id, row.flowchart_version)
        writer = self._writer(conn, run_id, row.last_sequence, state, trace, row.status)
        return (
            writer,
            graph,
            self._run_meta(run_id, row.flowchart_id, row.flowchart_version, dict(row.input)),
        )

    @staticmethod
    async def _node_run(conn: AsyncConnection, node_run_id: str) -> Any:
        return (
            await conn.execute(
                sa.select(
                    node_runs.c.node_id,
                    node_runs.c.status,
                    node_runs.c.attempt,
                    node_runs.c.input_context,
                ).where(node_runs.c.id == node_run_id)
            )
        ).first()

    @staticmethod
    async def node_runs_by_id(conn: AsyncConnection, ids: list[str]) -> dict[str, Any]:
        """Node id and input context of node runs, by node run id."""
        rows = await conn.execute(
            sa.select(node_runs.c.id, node_runs.c.node_id, node_runs.c.input_context).where(
                node_runs.c.id.in_(ids)
            )
        )
        return {row.id: row for row in rows}

    @staticmethod
    async def _update_node_run(conn: AsyncConnection, node_run_id: str, **values: Any) -> None:
        values["updated_at"] = datetime.now(UTC)
        await conn.execute(
            sa.update(node_runs).where(node_runs.c.id == node_run_id).values(**values)
        )

    async def _run_by_key(self, key: str) -> RunRecord | None:
        async with self._db.engine.connect() as conn:
            run_id = (
                await conn.execute(sa.select(runs.c.id).where(runs.c.idempotency_key == key))
            ).scalar_one_or_none()
        return None if run_id is None else await run_record(self._db, run_id)


def _deadline(graph: FlowchartGraph) -> datetime | None:
    """When a run of ``graph`` started now must end (its max runtime guard)."""
    limit = graph.definition.limits.max_runtime_seconds
    return None if limit is None else datetime.now(UTC) + timedelta(seconds=limit)


def _inline_output(context: dict[str, Any]) -> dict[str, Any]:
    """Start, end and decision nodes pass their latest upstream output through."""
    latest = context.get("latest_upstream")
    if latest is None:
        run_input = context["run"]["input"]
        return dict(run_input) if isinstance(run_input, dict) else {"input": run_input}
    output = latest.get("output")
    return dict(output) if isinstance(output, dict) else {"value": output}
