"""Request/reply handlers and broadcast listeners on core NATS, with nats-py directly.

Like the durable consumers (:mod:`llmctl_libs.durable_consumer`), these skip FastStream's
per-message layers. Each subject's requests are handled one at a time by default
(``max_workers``, as FastStream did): a handler that holds a pooled database connection while
it takes another could, run many at once, exhaust the pool and stall. A subject whose handler
holds at most one connection at a time may take more (the orchestrator's run start and run
reads do). Different subjects are served concurrently. A broadcast listener handles its
notices one after another.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from .task_slots import TaskSlots, stop_subscription

__all__ = ["REQUEST_WORKERS", "CoreSubscription"]

REQUEST_WORKERS = 1
"""Requests of one subject handled at once by one service instance (see above)."""

logger = logging.getLogger(__name__)


@dataclass
class CoreSubscription:
    """A request/reply endpoint (``reply=True``, in queue group ``queue``) or a broadcast
    listener (``reply=False``, no queue group: every instance gets every notice)."""

    subject: str
    handler: Callable[[bytes], Awaitable[bytes | None]]
    queue: str = ""
    reply: bool = True
    max_workers: int = REQUEST_WORKERS
    _subscription: Subscription | None = field(default=None, init=False)
    _handlers: TaskSlots | None = field(default=None, init=False)
    _nc: NatsClient | None = field(default=None, init=False)

    async def start(self, nc: NatsClient) -> None:
        """Subscribe."""
        self._nc = nc
        self._handlers = TaskSlots(self.max_workers)
        callback = self._on_request if self.reply else self._on_notice
        self._subscription = await nc.subscribe(self.subject, queue=self.queue, cb=callback)

    async def stop(self, timeout: float) -> None:
        """Unsubscribe and give requests in progress ``timeout`` seconds to answer."""
        subscription, self._subscription = self._subscription, None
        await stop_subscription(subscription, self._handlers, timeout)

    async def _on_notice(self, msg: Msg) -> None:
        try:
            await self.handler(msg.data)
        except Exception:
            logger.exception("listener for %s failed", self.subject)

    async def _on_request(self, msg: Msg) -> None:
        assert self._handlers is not None
        await self._handlers.spawn(self._answer(msg))  # back pressure: nats-py waits for this

    async def _answer(self, msg: Msg) -> None:
        try:
            reply = await self.handler(msg.data)
            if msg.reply and reply is not None and self._nc is not None:
                await self._nc.publish(msg.reply, reply)
        except Exception:
            # the requester times out; request handlers answer errors themselves (rpc.endpoint)
            logger.exception("request handler for %s failed", self.subject)
