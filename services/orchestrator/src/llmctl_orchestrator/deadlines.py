"""The max-runtime guard: a sweeper fails runs that passed their deadline.

Runs get ``deadline_at`` at start when their flowchart sets ``limits.max_runtime_seconds``. The
sweeper runs in every orchestrator replica; the run-row lock and the status check make a run
fail exactly once whichever replica gets there first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

import msgspec
import sqlalchemy as sa

from llmctl_contracts import ErrorBody, ErrorCode, MessageType, RunStatus
from llmctl_contracts.events import RunFailed
from llmctl_libs.bus import Bus
from llmctl_libs.messages import Trace
from llmctl_libs.service import Persistence
from llmctl_libs.store import PendingMessage

from .control import cancel_open_node_runs, tell_workers_to_stop
from .coordinator import RunCoordinator
from .engine.activation import unconsumed_tokens
from .tables import runs

__all__ = ["DeadlineSweeper"]

logger = logging.getLogger(__name__)
_ACTIVE = (RunStatus.RUNNING.value, RunStatus.PAUSING.value, RunStatus.PAUSED.value)


class DeadlineSweeper:
    """Fails overdue runs, cancelling their open node runs."""

    def __init__(
        self,
        persistence: Persistence,
        coordinator: RunCoordinator,
        bus: Bus,
        *,
        interval_seconds: float = 1.0,
    ) -> None:
        self._db = persistence.database
        self._relay = persistence.relay
        self._coordinator = coordinator
        self._bus = bus
        self._interval = interval_seconds
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Sweep in the background."""
        self._task = asyncio.create_task(self._loop(), name="deadline-sweeper")

    async def stop(self) -> None:
        """Stop sweeping."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            try:
                await self.sweep_once()
            except Exception:
                logger.exception("deadline sweep failed; retrying")
            await asyncio.sleep(self._interval)

    async def sweep_once(self) -> int:
        """Fail every overdue run; returns how many were failed."""
        async with self._db.engine.connect() as conn:
            overdue = (
                await conn.execute(
                    sa.select(runs.c.id, runs.c.correlation_id)
                    .where(runs.c.deadline_at < datetime.now(UTC), runs.c.status.in_(_ACTIVE))
                    .limit(100)
                )
            ).all()
        failed = 0
        for run in overdue:
            failed += await self._fail_overdue(run.id, run.correlation_id)
        return failed

    async def _fail_overdue(self, run_id: str, correlation_id: str) -> int:
        pending: list[PendingMessage] = []
        cancelled: list[str] = []
        trace = Trace(correlation_id=correlation_id, causation_id=f"deadline:{run_id}")
        async with self._db.transaction() as conn:
            loaded = await self._coordinator.lock_run(conn, run_id, trace)
            if loaded is None:
                return 0  # finished meanwhile (or another replica failed it)
            writer, graph, _meta = loaded
            limit = graph.definition.limits.max_runtime_seconds
            cancelled = await cancel_open_node_runs(writer)
            error = ErrorBody(
                code=ErrorCode.TIMEOUT, message=f"run exceeded its max runtime of {limit:g} s"
            )
            writer.emit(
                MessageType.RUN_FAILED,
                RunFailed(
                    error=error,
                    node_executions=writer.state.node_executions,
                    unconsumed_tokens=unconsumed_tokens(writer.state),
                ),
            )
            writer.set_status(RunStatus.FAILED.value)
            writer.error = msgspec.to_builtins(error)
            pending = await writer.flush()
        self._relay.enqueue(pending)
        await tell_workers_to_stop(self._bus, run_id, cancelled)
        return 1
