"""Handler tasks with a concurrency limit, for subscriptions whose callback must return fast."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any, Protocol

__all__ = ["TaskSlots", "stop_subscription"]


class _Subscription(Protocol):
    async def unsubscribe(self) -> None: ...


class TaskSlots:
    """Runs coroutines as tasks, at most ``limit`` at once.

    nats-py awaits a subscription's callback before it hands over the next message, so a
    callback that awaits :meth:`spawn` gives back pressure: messages wait (in nats-py's
    pending queue, and on the server) while every slot is busy.
    """

    def __init__(self, limit: int) -> None:
        self._slots = asyncio.Semaphore(limit)
        self._tasks: set[asyncio.Task[None]] = set()

    async def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Wait for a free slot, then run ``work`` in its own task."""
        try:
            await self._slots.acquire()
        except BaseException:
            work.close()  # cancelled while waiting: the work never starts
            raise
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._slots.release()

    async def drain(self, timeout: float) -> None:
        """Give running tasks ``timeout`` seconds to finish, then cancel the rest."""
        if not self._tasks:
            return
        _, running = await asyncio.wait(set(self._tasks), timeout=timeout)
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running)


async def stop_subscription(
    subscription: _Subscription | None, handlers: TaskSlots | None, timeout: float
) -> None:
    """Stop a subscription that hands its messages to ``handlers``: unsubscribe (a connection
    already gone is no error), then give running handlers ``timeout`` seconds."""
    if subscription is not None:
        with contextlib.suppress(Exception):
            await subscription.unsubscribe()
    if handlers is not None:
        await handlers.drain(timeout)
