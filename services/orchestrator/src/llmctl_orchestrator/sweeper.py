"""Time-driven steps: run deadlines (max runtime), retry backoff and node timeouts.

Timers are rows (``runs.deadline_at``; ``timers`` for node runs) written in the same
transaction as the step that needs them, so they survive crashes. Every orchestrator replica
sweeps; the run-row lock, ``SKIP LOCKED`` on timer rows and the state checks make each timer
act at most once. A replica that schedules a timer wakes its own sweeper for it; others find
it on their next poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from llmctl_contracts import ErrorBody, ErrorCode, RunStatus
from llmctl_libs.service import Persistence

from .coordinator import RunCoordinator, is_running
from .engine import FlowchartGraph
from .tables import runs, timers
from .writer import RunWriter

__all__ = ["TimerSweeper"]

logger = logging.getLogger(__name__)
_ACTIVE = (RunStatus.RUNNING.value, RunStatus.PAUSING.value, RunStatus.PAUSED.value)
_BATCH = 100


class TimerSweeper:
    """Fails overdue runs, dispatches retries whose backoff ended, times out silent attempts."""

    def __init__(
        self,
        persistence: Persistence,
        coordinator: RunCoordinator,
        *,
        interval_seconds: float = 1.0,
    ) -> None:
        self._db = persistence.database
        self._coordinator = coordinator
        self._interval = interval_seconds
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._next_due: datetime | None = None

    async def start(self) -> None:
        """Sweep in the background; the coordinator wakes the sweeper for new timers."""
        self._coordinator.on_wake = self.wake
        self._task = asyncio.create_task(self._loop(), name="timer-sweeper")

    async def stop(self) -> None:
        """Stop sweeping."""
        self._coordinator.on_wake = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def wake(self, due: datetime) -> None:
        """A timer falls due at ``due``: sweep then rather than at the next poll."""
        if self._next_due is None or due < self._next_due:
            self._next_due = due
            self._wake.set()

    async def _loop(self) -> None:
        while True:
            try:
                await self.sweep_once()
            except Exception:
                logger.exception("timer sweep failed; retrying")
            await self._sleep()

    async def _sleep(self) -> None:
        delay = self._interval
        if self._next_due is not None:
            delay = min(delay, max(0.0, (self._next_due - datetime.now(UTC)).total_seconds()))
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=delay)

    async def sweep_once(self) -> int:
        """Act on every due deadline and timer; returns how many acted."""
        now = datetime.now(UTC)
        if self._next_due is not None and self._next_due <= now:
            self._next_due = None
        async with self._db.autocommit() as conn:
            overdue = (
                await conn.execute(
                    sa.select(runs.c.id)
                    .where(runs.c.deadline_at < now, runs.c.status.in_(_ACTIVE))
                    .limit(_BATCH)
                )
            ).all()
            due = (
                (
                    await conn.execute(
                        sa.select(timers.c.id)
                        .where(timers.c.due_at <= now)
                        .order_by(timers.c.due_at)
                        .limit(_BATCH)
                    )
                )
                .scalars()
                .all()
            )
        acted = 0
        for run in overdue:
            acted += await self._fail_overdue(run.id)
        for timer_id in due:
            acted += await self._fire(timer_id)
        return acted

    async def _fail_overdue(self, run_id: str) -> int:
        coordinator = self._coordinator
        async with self._db.transaction() as conn:
            loaded = await coordinator.lock_run(conn, run_id, causation_id=f"deadline:{run_id}")
            if loaded is None:
                return 0  # finished meanwhile (or another replica failed it)
            writer, graph, _meta = loaded
            limit = graph.definition.limits.max_runtime_seconds
            error = ErrorBody(
                code=ErrorCode.TIMEOUT, message=f"run exceeded its max runtime of {limit:g} s"
            )
            await coordinator.fail_run(writer, error, None)
            pending = await writer.flush()
        await coordinator.after_commit(writer, pending)
        return 1

    async def _fire(self, timer_id: str) -> int:
        coordinator = self._coordinator
        async with self._db.transaction() as conn:
            timer = (
                await conn.execute(
                    sa.select(timers)
                    .where(timers.c.id == timer_id)
                    .with_for_update(skip_locked=True)
                )
            ).first()
            if timer is None:
                return 0  # another replica has it
            await conn.execute(sa.delete(timers).where(timers.c.id == timer_id))
            loaded = await coordinator.lock_run(
                conn, timer.run_id, causation_id=f"timer:{timer_id}"
            )
            if loaded is None:
                return 0  # the run ended: the timer is moot
            writer, graph, _meta = loaded
            row = await coordinator.node_run(writer, timer.node_run_id)
            if timer.kind == "retry":
                acted = await self._retry(writer, graph, row, timer)
            else:
                acted = await self._time_out(writer, graph, row, timer)
            # a timer that no longer matters only goes: the run row is left as it is
            pending = await writer.flush() if acted else []
        await coordinator.after_commit(writer, pending)
        return acted

    async def _retry(self, writer: RunWriter, graph: FlowchartGraph, row: Any, timer: Any) -> int:
        waiting = (
            row is not None
            and row.status == "queued"
            and row.attempt == timer.attempt - 1
            and timer.node_run_id in writer.state.in_flight
        )
        if not waiting:
            return 0  # cancelled, rewound or already retried
        await self._coordinator.dispatch(
            writer,
            graph,
            graph.nodes[row.node_id],
            row.id,
            dict(row.input_context),
            attempt=timer.attempt,
        )
        return 1

    async def _time_out(
        self, writer: RunWriter, graph: FlowchartGraph, row: Any, timer: Any
    ) -> int:
        if not is_running(writer, row, timer.node_run_id, timer.attempt):
            return 0  # reported in time, or no longer current
        node = graph.nodes[row.node_id]
        timeout = node.timeout_seconds or graph.definition.defaults.timeout_seconds
        error = ErrorBody(
            code=ErrorCode.TIMEOUT,
            message=(
                f"attempt {timer.attempt} reported no result within its timeout of {timeout:g} s"
            ),
        )
        coordinator = self._coordinator
        await coordinator.attempt_failed(writer, graph, node, row.id, timer.attempt, error)
        # stop the silent attempt, even when its retry was dispatched now: the notice names
        # the attempt, and a worker running the retry keeps it
        writer.stop_node_runs[row.id] = timer.attempt
        await coordinator.fill_slots(writer, graph)
        coordinator.settle_pause(writer)
        return 1
