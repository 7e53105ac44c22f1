"""Group commit per run: steps of one run that arrive while one is in progress share the next
transaction.

Steps of one run are serial anyway (the run-row lock). Rather than each waiting message taking
its own transaction in turn, the first one becomes the run's leader and processes everything
that queued up meanwhile in one transaction: one lock, one state load and save, one events
insert, one outbox insert, one commit. This is what makes a wide fan-in cheap.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from llmctl_contracts import Envelope

__all__ = ["MAX_GROUP", "QueuedStep", "StepGroups"]

MAX_GROUP = 64
"""Most messages one transaction takes."""


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


GroupProcessor = Callable[[str, list[QueuedStep]], Awaitable[None]]
"""Processes a group of one run's steps and settles each of them."""


class StepGroups:
    """Per-run queues with a leader that drains them through ``process``."""

    def __init__(self, process: GroupProcessor, *, max_group: int = MAX_GROUP) -> None:
        self._process = process
        self._max = max_group
        self._waiting: dict[str, list[QueuedStep]] = {}

    async def submit(self, run_id: str, step: QueuedStep) -> None:
        """Run ``step`` in the run's next transaction; returns once it committed (or raises)."""
        waiting = self._waiting.get(run_id)
        if waiting is not None:
            waiting.append(step)  # the run's leader takes it in its next group
            await step.done
            return
        self._waiting[run_id] = waiting = [step]
        try:
            while waiting:
                group = waiting[: self._max]
                del waiting[: self._max]
                await self._process(run_id, group)
        finally:
            del self._waiting[run_id]
            for abandoned in waiting:
                abandoned.settle(RuntimeError("step abandoned: its run's leader stopped"))
        await step.done
