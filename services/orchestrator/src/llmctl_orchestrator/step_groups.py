"""Group commit: the steps that queue up while a transaction runs share the next one, across
runs.

Steps of one run are serial anyway (the run-row lock). Every message becomes a step queued under
its run; a few *lanes* (background tasks) each take the waiting steps of every run that no other
lane holds and process them in one transaction: one statement to claim them all and lock their
run rows, one events insert, one outbox insert, one run-state save and one commit for the whole
batch. With one message in flight this is one transaction per message, as before; under load
(50 concurrent runs, or 1,000 branches of one run finishing together) the fixed cost of a
transaction (round trips, the commit's fsync) is paid once per batch, not once per message.

A run is held by at most one lane at a time, so its steps still apply in arrival order, one
transaction after another.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from llmctl_contracts import Envelope

__all__ = ["LANES", "MAX_BATCH", "MAX_GROUP", "Batch", "QueuedStep", "StepGroups"]

MAX_GROUP = 256
"""Most steps of one run a transaction takes."""
MAX_BATCH = 256
"""Most steps a transaction takes in all (a batch stops taking runs once it has this many)."""
LANES = 2
"""Transactions in progress at once: one commits (waiting on the fsync) while the next is
built."""


@dataclass
class QueuedStep:
    """One message waiting for its run's next transaction."""

    envelope: Envelope
    inbox_scope: str
    body: Callable[[Any, Any, dict[str, Any]], Awaitable[None]]
    done: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    def settle(self, error: BaseException | None = None) -> None:
        """Resolve the waiter (once)."""
        if self.done.done():
            return
        if error is None:
            self.done.set_result(None)
        else:
            self.done.set_exception(error)


Batch = dict[str, list[QueuedStep]]
"""Steps of one transaction by run id (each run's steps in arrival order)."""
BatchProcessor = Callable[[Batch], Awaitable[None]]
"""Processes one batch and settles each of its steps."""


class StepGroups:
    """Per-run queues drained in batches by up to ``lanes`` concurrent transactions."""

    def __init__(
        self,
        process: BatchProcessor,
        *,
        max_group: int = MAX_GROUP,
        max_batch: int = MAX_BATCH,
        lanes: int = LANES,
    ) -> None:
        self._process = process
        self._max_group = max_group
        self._max_batch = max_batch
        self._max_lanes = lanes
        self._waiting: dict[str, list[QueuedStep]] = {}
        self._held: set[str] = set()
        self._lanes: set[asyncio.Task[None]] = set()
        self._running = 0
        """Lanes started and not yet finished (counted down by the lane itself as it ends:
        a finished task leaves ``_lanes`` only later, in a done callback)."""

    async def submit(self, run_id: str, step: QueuedStep) -> None:
        """Run ``step`` in a transaction after the run's earlier steps; returns once it
        committed (or raises what its processing raised)."""
        self._waiting.setdefault(run_id, []).append(step)
        if self._running < self._max_lanes:
            self._running += 1
            lane = asyncio.create_task(self._lane(), name="orchestrator-step-lane")
            self._lanes.add(lane)
            lane.add_done_callback(self._lanes.discard)
        await step.done

    def _take(self) -> Batch:
        """The waiting steps of runs no lane holds (oldest runs first), up to the limits."""
        batch: Batch = {}
        taken = 0
        for run_id in list(self._waiting):
            if taken >= self._max_batch:
                break
            if run_id in self._held:
                continue  # its lane takes these steps once its transaction is over
            waiting = self._waiting[run_id]
            group = waiting[: min(self._max_group, self._max_batch - taken)]
            del waiting[: len(group)]
            if not waiting:
                del self._waiting[run_id]
            batch[run_id] = group
            taken += len(group)
            self._held.add(run_id)
        return batch

    async def _lane(self) -> None:
        """Process batches until no waiting step is free to take.

        A lane loops after releasing its runs, so steps that arrived for them meanwhile are
        taken by the next batch: no step waits for a lane that has gone.
        """
        try:
            while batch := self._take():
                await self._run_batch(batch)
        finally:
            self._running -= 1

    async def _run_batch(self, batch: Batch) -> None:
        try:
            await self._process(batch)
        except Exception as exc:  # the processor settles its steps; this is a safety net
            _settle_all(batch, exc)
        except BaseException:
            # cancelled (shutdown): fail this batch, and what waits if no other lane will take it
            abandoned = RuntimeError("step abandoned: its lane was cancelled")
            _settle_all(batch, abandoned)
            if self._running <= 1:
                waiting, self._waiting = self._waiting, {}
                _settle_all(waiting, abandoned)
            raise
        finally:
            self._held.difference_update(batch)


def _settle_all(batch: Batch, error: BaseException) -> None:
    for steps in batch.values():
        for step in steps:
            step.settle(error)
