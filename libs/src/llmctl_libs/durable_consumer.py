"""A durable JetStream push consumer on nats-py directly, behind :meth:`Bus.consume`.

FastStream's subscriber wraps every message in its own layers (context scopes, logging and
acknowledgement middlewares, dependency injection, a message parser): about a tenth of the
orchestrator's and the router's CPU per message. The internal consumers need none of it, so
they subscribe with nats-py: one push subscription in the durable's deliver group, each
message handled in its own task (at most ``max_workers`` at once), kept in progress while its
handler runs, acknowledged when the handler returns and negatively acknowledged with a short
delay (so it is redelivered) when it raises.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig

from .task_slots import TaskSlots, stop_subscription

__all__ = ["NAK_DELAY_SECONDS", "DurableConsumer"]

NAK_DELAY_SECONDS = 0.5
"""How long a message whose handler failed waits before it is redelivered."""

logger = logging.getLogger(__name__)


@dataclass
class DurableConsumer:
    """One durable push consumer (deliver group = durable name) and its running handlers."""

    subject: str
    durable: str
    stream: str
    handler: Callable[[bytes, dict[str, str]], Awaitable[None]]
    ack_wait_seconds: float
    max_workers: int
    max_ack_pending: int
    _subscription: JetStreamContext.PushSubscription | None = field(default=None, init=False)
    _handlers: TaskSlots | None = field(default=None, init=False)

    async def start(self, js: JetStreamContext) -> None:
        """Join the deliver group (creating the durable if it does not exist)."""
        self._handlers = TaskSlots(self.max_workers)
        self._subscription = await js.subscribe(
            self.subject,
            queue=self.durable,
            stream=self.stream,
            cb=self._on_message,
            manual_ack=True,
            config=ConsumerConfig(
                ack_wait=self.ack_wait_seconds,
                max_ack_pending=self.max_ack_pending,
                max_deliver=-1,
            ),
        )

    async def stop(self, timeout: float) -> None:
        """Stop taking messages and give running handlers ``timeout`` seconds to finish
        (a handler still running then is cancelled; its message is redelivered)."""
        subscription, self._subscription = self._subscription, None
        await stop_subscription(subscription, self._handlers, timeout)

    async def _on_message(self, msg: Msg) -> None:
        # nats-py awaits this callback before it hands over the next message: waiting for a
        # free slot here is the back pressure; the handler then runs in its own task.
        assert self._handlers is not None
        await self._handlers.spawn(self._handle(msg))

    async def _handle(self, msg: Msg) -> None:
        beat = asyncio.create_task(self._keep_in_progress(msg))
        try:
            await self.handler(msg.data, dict(msg.headers or {}))
        except Exception:
            logger.exception("handler for %s failed; message will be redelivered", self.subject)
            await _settle(msg.nak(delay=NAK_DELAY_SECONDS))
            return
        finally:
            beat.cancel()
        await _settle(msg.ack())

    async def _keep_in_progress(self, msg: Msg) -> None:
        while True:
            await asyncio.sleep(self.ack_wait_seconds / 3)
            await msg.in_progress()


async def _settle(reply: Awaitable[None]) -> None:
    """Send an ack or nak; if the connection is gone the message is redelivered anyway."""
    try:
        await reply
    except Exception:
        logger.warning("could not acknowledge a message; it will be redelivered", exc_info=True)
