"""Group commit for independent items: what queues up while a batch is written joins the next.

A consumer whose messages are independent of each other (the router's route commands) hands
each one to :class:`Batcher` and awaits its result. Up to ``lanes`` background tasks each take
every item waiting (up to ``max_batch``) and write them with one call of ``process``: one
statement and one commit for the batch instead of one per message. With one message in flight
a batch is that message alone, so latency is unchanged when the system is idle.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

__all__ = ["Batcher"]

T = TypeVar("T")
R = TypeVar("R")


class Batcher(Generic[T, R]):
    """Submits items to ``process`` in batches; each caller gets its own item's result.

    ``process`` gets the batch's items in arrival order and returns one outcome per item, in
    the same order: the result, or the exception that item's caller should get.
    """

    def __init__(
        self,
        process: Callable[[list[T]], Awaitable[Sequence[R | BaseException]]],
        *,
        max_batch: int = 256,
        lanes: int = 2,
        name: str = "batcher",
    ) -> None:
        self._process = process
        self._max_batch = max_batch
        self._max_lanes = lanes
        self._name = name
        self._waiting: list[tuple[T, asyncio.Future[R]]] = []
        self._lanes: set[asyncio.Task[None]] = set()
        self._running = 0

    async def submit(self, item: T) -> R:
        """Process ``item`` in the next batch; its result, or raises its exception."""
        done: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, done))
        if self._running < self._max_lanes:
            self._running += 1  # counted down by the lane itself (not in a done callback)
            lane = asyncio.create_task(self._lane(), name=f"{self._name}-lane")
            self._lanes.add(lane)
            lane.add_done_callback(self._lanes.discard)
        return await done

    async def _lane(self) -> None:
        try:
            while self._waiting:
                batch = self._waiting[: self._max_batch]
                del self._waiting[: len(batch)]
                await self._run(batch)
        finally:
            self._running -= 1

    async def _run(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            outcomes = await self._process([item for item, _ in batch])
            if len(outcomes) != len(batch):
                raise RuntimeError(
                    f"{self._name}: {len(outcomes)} outcomes for a batch of {len(batch)}"
                )
        except Exception as exc:
            outcomes = [exc] * len(batch)
        except BaseException:
            # cancelled (shutdown): fail this batch, and what waits if no other lane will take it
            stranded = batch if self._running > 1 else batch + self._waiting
            if self._running <= 1:
                self._waiting = []
            for _, done in stranded:
                if not done.done():
                    done.set_exception(RuntimeError(f"{self._name}: batch abandoned"))
            raise
        for (_, done), outcome in zip(batch, outcomes, strict=True):
            if done.done():
                continue  # its caller was cancelled
            if isinstance(outcome, BaseException):
                done.set_exception(outcome)
            else:
                done.set_result(outcome)
