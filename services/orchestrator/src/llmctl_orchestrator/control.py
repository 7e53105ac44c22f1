"""Workflow control: pause, resume and cancel, each idempotent by request id.

- pause: the run stops launching work. Node runs already in flight finish and are routed;
  what they activate is held (``queued``). The run is ``pausing`` until nothing is in flight,
  then ``paused``.
- resume: held node runs are launched in activation order; the run is ``running`` again.
- cancel: open node runs end ``cancelled`` and the run ``cancelled`` at once; workers are told
  to stop (best effort), and their late results are ignored because the run is terminal.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from llmctl_contracts import (
    ErrorBody,
    ErrorCode,
    FieldError,
    RunStatus,
    encode,
    subjects,
)
from llmctl_contracts.events import NodeCancelRequested
from llmctl_contracts.rpc import ControlRun, RunRecord
from llmctl_libs.bus import Bus
from llmctl_libs.messages import Trace
from llmctl_libs.rpc import RpcError
from llmctl_libs.service import Persistence
from llmctl_libs.store import PendingMessage

from .coordinator import RunCoordinator
from .engine import FlowchartGraph
from .flowcharts import not_found
from .queries import run_record
from .tables import node_runs, runs
from .writer import RunWriter

__all__ = ["RunControl", "cancel_open_node_runs", "tell_workers_to_stop"]

_ALLOWED_FROM = {
    "pause": {RunStatus.RUNNING.value},
    "resume": {RunStatus.PAUSING.value, RunStatus.PAUSED.value},
    "cancel": {RunStatus.RUNNING.value, RunStatus.PAUSING.value, RunStatus.PAUSED.value},
}
_TERMINAL_NODE = ["succeeded", "succeeded_with_warning", "failed", "cancelled", "skipped"]


def _conflict(action: str, status: str) -> RpcError:
    return RpcError(
        ErrorBody(
            code=ErrorCode.CONFLICT,
            message=f"cannot {action} a run that is {status}",
            details=[FieldError(field="action", reason=f"not allowed while the run is {status}")],
        )
    )


class RunControl:
    """Applies control requests to runs."""

    def __init__(self, persistence: Persistence, coordinator: RunCoordinator, bus: Bus) -> None:
        self._db = persistence.database
        self._inbox = persistence.inbox
        self._relay = persistence.relay
        self._coordinator = coordinator
        self._bus = bus

    async def control(self, request: ControlRun) -> RunRecord:
        """Apply ``request``; a repeated ``request_id`` changes nothing and returns the run."""
        pending: list[PendingMessage] = []
        cancelled: list[str] = []
        async with self._db.transaction() as conn:
            status = (
                await conn.execute(
                    sa.select(runs.c.status, runs.c.correlation_id)
                    .where(runs.c.id == request.run_id)
                    .with_for_update()
                )
            ).first()
            if status is None:
                raise not_found("run", request.run_id)
            key = f"control:{request.run_id}:{request.request_id}"
            if await self._inbox.claim(conn, "orchestrator.control", key):
                if status.status not in _ALLOWED_FROM[request.action]:
                    raise _conflict(request.action, status.status)  # rolls the claim back too
                trace = Trace(
                    correlation_id=status.correlation_id,
                    causation_id=key,
                    request_id=request.request_id,
                )
                loaded = await self._coordinator.lock_run(conn, request.run_id, trace)
                assert loaded is not None  # locked above and not terminal
                writer, graph, _meta = loaded
                if request.action == "pause":
                    self._pause(writer, request)
                elif request.action == "resume":
                    await self._resume(writer, graph, request)
                else:
                    cancelled = await self._cancel(writer, request)
                pending = await writer.flush()
        self._relay.enqueue(pending)
        await tell_workers_to_stop(self._bus, request.run_id, cancelled)
        return await run_record(self._db, request.run_id)

    def _pause(self, writer: RunWriter, request: ControlRun) -> None:
        writer.record_control(
            "pause", RunStatus.PAUSING.value, request.request_id, reason=request.reason
        )
        self._coordinator.settle_pause(writer, request.request_id)

    async def _resume(self, writer: RunWriter, graph: FlowchartGraph, request: ControlRun) -> None:
        writer.record_control(
            "resume", RunStatus.RUNNING.value, request.request_id, reason=request.reason
        )
        held, writer.state.held = writer.state.held, []
        if not held:
            return
        rows = await self._coordinator.node_runs_by_id(writer.conn, held)
        for node_run_id in held:
            row = rows[node_run_id]
            await self._coordinator.launch(
                writer, graph, graph.nodes[row.node_id], node_run_id, dict(row.input_context)
            )

    async def _cancel(self, writer: RunWriter, request: ControlRun) -> list[str]:
        cancelled = await cancel_open_node_runs(writer)
        writer.record_control(
            "cancel",
            RunStatus.CANCELLED.value,
            request.request_id,
            reason=request.reason,
            cancelled_node_run_ids=cancelled,
        )
        return cancelled


async def cancel_open_node_runs(writer: RunWriter) -> list[str]:
    """End every open node run ``cancelled`` and forget the run's pending work.

    Returns:
        The node runs that were cancelled (workers should be told to stop them).
    """
    state = writer.state
    open_ids = list(state.open_node_runs)
    cancelled: list[str] = []
    if open_ids:
        result = await writer.conn.execute(
            sa.update(node_runs)
            .where(node_runs.c.id.in_(open_ids), node_runs.c.status.not_in(_TERMINAL_NODE))
            .values(status="cancelled", updated_at=datetime.now(UTC))
            .returning(node_runs.c.id)
        )
        cancelled = sorted(result.scalars())
    state.open_node_runs, state.held, state.in_flight, state.waiting = [], [], [], []
    return cancelled


async def tell_workers_to_stop(bus: Bus, run_id: str, node_run_ids: list[str]) -> None:
    """Best-effort broadcast: workers running these node runs stop them."""
    if node_run_ids:
        notice = NodeCancelRequested(run_id=run_id, node_run_ids=node_run_ids)
        await bus.nc.publish(subjects.cancel_broadcast(), encode(notice))
