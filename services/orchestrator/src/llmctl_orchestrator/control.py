"""Workflow control, each request idempotent by its request id.

Run operations:

- pause: the run stops launching work. Node runs in flight finish and are routed; what they
  activate stays queued. The run is ``pausing`` until nothing is in flight, then ``paused``.
- resume: queued node runs are launched in activation order; the run is ``running`` again.
- cancel: open node runs end ``cancelled`` and the run ``cancelled`` at once; workers are told
  to stop (best effort), and their late results are ignored because the run is terminal.

Node-run operations (``node_run_id``):

- retry: the node run that failed the run runs again (a new attempt, with its recorded input
  and a fresh retry budget); node runs the failure cancelled are queued again and decisions
  the failure left unrouted are routed; the run is ``running`` again.
- skip: the node run that failed the run (or a queued node run of an active run) ends
  ``skipped`` and routes on with the given output (empty by default), as if it had succeeded.
- rewind: the run goes back to just before the node run was activated. Its state is rebuilt
  from the event history as it stood then; the events since are marked superseded (kept), as
  are the node runs they created; the node is activated again and the run continues.
"""

from __future__ import annotations

from typing import Any

import msgspec
import sqlalchemy as sa

from llmctl_contracts import (
    ContractError,
    Envelope,
    ErrorBody,
    ErrorCode,
    MessageType,
    NodeRunStatus,
    RunStatus,
    decode_payload,
)
from llmctl_contracts.events import NodeRequeued, NodeSkipped, RunRewound
from llmctl_contracts.rpc import ControlRun, RunRecord
from llmctl_libs.rpc import RpcError
from llmctl_libs.service import Persistence
from llmctl_libs.store.idempotency import NOT_SEEN, IdempotentRequests, request_fingerprint

from .coordinator import RunCoordinator, run_deadline
from .engine import (
    EngineError,
    FlowchartGraph,
    effective_history,
    events_before,
    rewound_state,
    start_activation,
)
from .flowcharts import not_found
from .history import run_events
from .queries import run_record_in
from .tables import idempotency, node_runs
from .writer import RunWriter

__all__ = ["RunControl"]

_ACTIVE = {RunStatus.RUNNING.value, RunStatus.PAUSING.value, RunStatus.PAUSED.value}
_ALLOWED_FROM = {
    "pause": {RunStatus.RUNNING.value},
    "resume": {RunStatus.PAUSING.value, RunStatus.PAUSED.value},
    "cancel": _ACTIVE,
    "retry": {RunStatus.FAILED.value},
    "skip": {RunStatus.FAILED.value} | _ACTIVE,
    "rewind": {
        RunStatus.PAUSED.value,
        RunStatus.SUCCEEDED.value,
        RunStatus.FAILED.value,
        RunStatus.CANCELLED.value,
    },
}
_NODE_ACTIONS = {"retry", "skip", "rewind"}


def _conflict(message: str, field: str, reason: str) -> RpcError:
    return RpcError(ErrorBody.for_field(ErrorCode.CONFLICT, field, reason, message=message))


class RunControl:
    """Applies control requests to runs."""

    def __init__(self, persistence: Persistence, coordinator: RunCoordinator) -> None:
        self._db = persistence.database
        self._store = persistence.event_store
        self._inbox = persistence.inbox
        self._coordinator = coordinator
        self._requests = IdempotentRequests(idempotency)

    async def on_command(self, envelope: Envelope) -> None:
        """A ``run.control`` bus command: applied like the request/reply form; a request the
        run cannot take is dead-lettered with the same error the API would answer."""
        request = decode_payload(envelope, ControlRun)
        try:
            await self.control(request)
        except RpcError as exc:
            raise ContractError(exc.body) from exc

    async def control(self, request: ControlRun) -> RunRecord:
        """Apply ``request``; a repeated ``request_id`` changes nothing and returns the run."""
        if request.action in _NODE_ACTIONS and not request.node_run_id:
            raise RpcError(
                ErrorBody.for_field(
                    ErrorCode.VALIDATION_FAILED,
                    "node_run_id",
                    "required",
                    message=f"{request.action} needs the node run to {request.action}",
                )
            )
        writer: RunWriter | None = None
        async with self._db.transaction() as conn:
            # Same request id, same request: the result it had; another request: refused.
            prior = await self._requests.begin(
                conn, "run.control", request.request_id, request_fingerprint(request)
            )
            if prior is not NOT_SEEN:
                return msgspec.convert(prior, RunRecord)
            key = f"control:{request.run_id}:{request.request_id}"
            loaded = await self._coordinator.lock_run(
                conn,
                request.run_id,
                causation_id=key,
                request_id=request.request_id,
                terminal_too=True,
            )
            if loaded is None:
                raise not_found("run", request.run_id)
            if await self._inbox.claim(conn, "orchestrator.control", key):
                writer, graph, meta = loaded
                status = writer.current_status
                if status not in _ALLOWED_FROM[request.action]:
                    raise _conflict(
                        f"cannot {request.action} a run that is {status}",
                        "action",
                        f"not allowed while the run is {status}",
                    )  # rolls the claim back too
                await self._apply(writer, graph, meta, request)
                pending = await writer.flush()
            result = await run_record_in(conn, request.run_id)
            await self._requests.finish(conn, "run.control", request.request_id, result)
        if writer is not None:
            await self._coordinator.after_commit(writer, pending)
        return result

    async def _apply(
        self,
        writer: RunWriter,
        graph: FlowchartGraph,
        meta: dict[str, Any],
        request: ControlRun,
    ) -> None:
        coordinator = self._coordinator
        if request.action == "pause":
            writer.record_control(
                "pause", RunStatus.PAUSING.value, request.request_id, reason=request.reason
            )
            coordinator.settle_pause(writer)
        elif request.action == "resume":
            writer.record_control(
                "resume", RunStatus.RUNNING.value, request.request_id, reason=request.reason
            )
            await coordinator.fill_slots(writer, graph)
        elif request.action == "cancel":
            cancelled = await coordinator.cancel_node_runs(writer, everything=True)
            writer.record_control(
                "cancel",
                RunStatus.CANCELLED.value,
                request.request_id,
                reason=request.reason,
                cancelled_node_run_ids=cancelled,
            )
        else:
            row = await self._node_run(writer, request)
            if request.action == "retry":
                await self._retry(writer, graph, request, row)
            elif request.action == "skip":
                await self._skip(writer, graph, request, row)
            else:
                await self._rewind(writer, graph, meta, request, row)

    async def _node_run(self, writer: RunWriter, request: ControlRun) -> Any:
        assert request.node_run_id is not None
        row = await self._coordinator.node_run(writer, request.node_run_id)
        if row is None or row.run_id != request.run_id:
            raise not_found("node run", request.node_run_id)
        if row.superseded:
            raise _conflict(
                f"node run {row.id} was superseded by a rewind",
                "node_run_id",
                "superseded by a rewind; use the node run that replaced it",
            )
        return row

    # -- retry / skip ------------------------------------------------------------------------

    def _require_failed_node(self, writer: RunWriter, request: ControlRun) -> None:
        if writer.state.failed_node_run_id != request.node_run_id:
            raise _conflict(
                f"node run {request.node_run_id} did not fail the run",
                "node_run_id",
                "only the node run that failed the run can be retried or skipped once failed",
            )

    def _revive(self, writer: RunWriter, graph: FlowchartGraph, request: ControlRun) -> list[str]:
        """Record the control event moving a finished run back to ``running``.

        Returns:
            The node runs its failure had cancelled (to queue again).
        """
        interrupted = list(writer.state.interrupted)
        writer.record_control(
            request.action,
            RunStatus.RUNNING.value,
            request.request_id,
            reason=request.reason,
            node_run_id=request.node_run_id,
        )
        writer.run_values.update(deadline_at=run_deadline(graph), error=None, outcome=None)
        return interrupted

    async def _retry(
        self, writer: RunWriter, graph: FlowchartGraph, request: ControlRun, row: Any
    ) -> None:
        self._require_failed_node(writer, request)
        interrupted = self._revive(writer, graph, request)
        await self._requeue(writer, [*interrupted, row.id], request.request_id)
        await self._reroute_unrouted(writer, graph, request.request_id)
        await self._coordinator.fill_slots(writer, graph)

    async def _skip(
        self, writer: RunWriter, graph: FlowchartGraph, request: ControlRun, row: Any
    ) -> None:
        if writer.current_status == RunStatus.FAILED.value:
            self._require_failed_node(writer, request)
            interrupted = self._revive(writer, graph, request)
            await self._requeue(writer, interrupted, request.request_id)
            await self._reroute_unrouted(writer, graph, request.request_id)
        elif row.id in writer.state.ready:
            writer.record_control(
                "skip",
                writer.current_status,
                request.request_id,
                reason=request.reason,
                node_run_id=row.id,
            )
        else:
            waiting = row.id in writer.state.in_flight and row.status == NodeRunStatus.QUEUED.value
            raise _conflict(
                f"node run {row.id} is "
                + (f"waiting to retry (attempt {row.attempt} failed)" if waiting else row.status),
                "node_run_id",
                "only a node run not yet dispatched, or the node run that failed the run, can "
                "be skipped",
            )
        output = dict(request.output or {})
        node = graph.nodes[row.node_id]
        writer.emit(
            MessageType.NODE_SKIPPED,
            NodeSkipped(
                node_run_id=row.id, node_id=node.id, request_id=request.request_id, output=output
            ),
            node_run_id=row.id,
        )
        self._coordinator.update_node_run(
            writer, row.id, status=NodeRunStatus.SKIPPED.value, output=output
        )
        self._coordinator.route(
            writer,
            graph,
            node,
            row.id,
            output,
            dict(row.input_context),
            request_id=request.request_id,
        )
        await self._coordinator.fill_slots(writer, graph)

    async def _requeue(self, writer: RunWriter, ids: list[str], request_id: str) -> None:
        """Queue node runs again (``node.requeued``); each keeps its attempts on record."""
        if not ids:
            return
        rows = await self._coordinator.node_runs_by_id(writer, ids)
        for node_run_id in ids:
            row = rows[node_run_id]
            writer.emit(
                MessageType.NODE_REQUEUED,
                NodeRequeued(
                    node_run_id=node_run_id,
                    node_id=row.node_id,
                    attempts=row.attempt,
                    request_id=request_id,
                ),
                node_run_id=node_run_id,
            )
            self._coordinator.update_node_run(
                writer, node_run_id, status=NodeRunStatus.QUEUED.value, error=None
            )

    async def _reroute_unrouted(
        self, writer: RunWriter, graph: FlowchartGraph, request_id: str
    ) -> None:
        """Ask again for decisions a finished run dropped (node runs finished, not routed)."""
        state = writer.state
        busy = set(state.ready) | set(state.in_flight)
        unrouted = [r for r in state.open_node_runs if r not in busy]
        if not unrouted:
            return
        rows = await self._coordinator.node_runs_by_id(writer, unrouted)
        for node_run_id in unrouted:
            row = rows[node_run_id]
            self._coordinator.route(
                writer,
                graph,
                graph.nodes[row.node_id],
                node_run_id,
                dict(row.output or {}),
                dict(row.input_context),
                request_id=request_id,
            )

    # -- rewind ------------------------------------------------------------------------------

    async def _rewind(
        self,
        writer: RunWriter,
        graph: FlowchartGraph,
        meta: dict[str, Any],
        request: ControlRun,
        row: Any,
    ) -> None:
        coordinator = self._coordinator
        history = effective_history(await run_events(self._store, writer.conn, writer.run_id))
        queued = next(
            e
            for e in history
            if e.type == MessageType.NODE_QUEUED and e.payload.node_run_id == row.id
        )
        superseded = [
            e.payload.node_run_id
            for e in history
            if e.type == MessageType.NODE_QUEUED and e.sequence >= queued.sequence
        ]
        cancelled = await coordinator.cancel_node_runs(writer, everything=True)
        before = events_before(history, queued.sequence)
        writer.replace_state(rewound_state(graph, before, writer.state))
        writer.emit(
            MessageType.RUN_REWOUND,
            RunRewound(
                node_run_id=row.id,
                node_id=row.node_id,
                from_sequence=queued.sequence,
                to_sequence=writer.sequence,
                request_id=request.request_id,
            ),
        )
        await self._store.mark_superseded(
            writer.conn, writer.run_id, queued.sequence, writer.sequence - 1
        )
        await writer.node_runs.flush(writer.conn)
        await writer.conn.execute(
            sa.update(node_runs).where(node_runs.c.id.in_(superseded)).values(superseded=True)
        )
        writer.record_control(
            "rewind",
            RunStatus.RUNNING.value,
            request.request_id,
            reason=request.reason,
            cancelled_node_run_ids=cancelled,
            node_run_id=row.id,
        )
        writer.run_values.update(deadline_at=run_deadline(graph), error=None, outcome=None)
        await self._resume_rebuilt_work(writer, graph, request.request_id)
        try:
            if row.node_id == graph.start.id:
                await coordinator.queue(writer, graph, start_activation(writer.state, graph), meta)
            else:
                others = [t for t in writer.state.tokens if t != row.node_id]
                executions = writer.state.node_executions
                await coordinator.activate(writer, graph, [row.node_id], meta)
                if writer.state.node_executions == executions:
                    raise EngineError(f"node {row.node_id} cannot be activated again")
                await coordinator.activate(writer, graph, others, meta)
        except EngineError as exc:
            raise _conflict(str(exc), "node_run_id", str(exc)) from exc
        await coordinator.fill_slots(writer, graph)

    async def _resume_rebuilt_work(
        self, writer: RunWriter, graph: FlowchartGraph, request_id: str
    ) -> None:
        """Node runs open in the rebuilt state whose later events were superseded run again:
        those in flight (or dispatched later) as a new attempt, those finished but not yet
        routed are routed again."""
        state = writer.state
        if not state.open_node_runs:
            return
        rows = await self._coordinator.node_runs_by_id(writer, list(state.open_node_runs))
        again = [
            r
            for r in state.open_node_runs
            if r in state.in_flight
            or (r in state.ready and rows[r].attempt > state.attempts_before.get(r, 0))
        ]
        await self._requeue(writer, again, request_id)
        await self._reroute_unrouted(writer, graph, request_id)
