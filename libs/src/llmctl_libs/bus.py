"""The message bus: NATS JetStream and core NATS (FastStream holds the connection).

Streams are declared idempotently at start-up; JetStream publishes carry ``Nats-Msg-Id`` set to
a deterministic idempotency key so the server drops a retried publish; work is consumed through
durable push consumers in deliver groups with explicit acknowledgement. Consumers, request
handlers and listeners subscribe with nats-py directly (:mod:`llmctl_libs.durable_consumer`,
:mod:`llmctl_libs.request_server`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import nats
from faststream.nats import NatsBroker
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

from llmctl_contracts import subjects

from .durable_consumer import DurableConsumer
from .request_server import REQUEST_WORKERS, CoreSubscription

__all__ = [
    "DEFAULT_ACK_WAIT_SECONDS",
    "STREAMS",
    "STREAM_MAX_AGE_SECONDS",
    "Bus",
    "MessageHandler",
    "RawRequestHandler",
    "StreamSpec",
    "reconcile_durable",
]

DEFAULT_ACK_WAIT_SECONDS = 10.0
"""How long a message delivered to a consumer that died waits before redelivery (a live
handler keeps its message in progress, so this bounds only crash recovery)."""

logger = logging.getLogger(__name__)

MessageHandler = Callable[[bytes, dict[str, str]], Awaitable[None]]
"""A durable consumer's handler: message body and headers. Raising means "retry later"."""

RawRequestHandler = Callable[[bytes], Awaitable[bytes]]
"""A request/reply handler: request body in, reply body out."""

DUPLICATE_WINDOW_SECONDS = 600.0
STREAM_MAX_AGE_SECONDS = 7 * 24 * 3600.0
"""How long a stream keeps a message: no copy of a message is delivered after that."""
GRACEFUL_STOP_SECONDS = 5.0
"""How long a stopping service lets running handlers finish."""


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """A JetStream stream the system needs."""

    name: str
    subjects: tuple[str, ...]
    work_queue: bool

    def config(self) -> StreamConfig:
        """The nats-py stream configuration."""
        return StreamConfig(
            name=self.name,
            subjects=list(self.subjects),
            retention=RetentionPolicy.WORK_QUEUE if self.work_queue else RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            duplicate_window=DUPLICATE_WINDOW_SECONDS,
            max_age=STREAM_MAX_AGE_SECONDS,
        )


STREAMS = (
    StreamSpec(subjects.EVT_STREAM, tuple(subjects.EVT_SUBJECTS), work_queue=False),
    StreamSpec(subjects.CMD_STREAM, tuple(subjects.CMD_SUBJECTS), work_queue=True),
)


class Bus:
    """One service's connection to the bus.

    Register consumers and request handlers before :meth:`start`; publish and request after.

    Args:
        nats_url: NATS server URL(s), comma separated.
        service: Service name; used for durable names and request queue groups.
    """

    def __init__(self, nats_url: str, *, service: str) -> None:
        self.service = service
        self._url = nats_url
        self.broker = NatsBroker(
            servers=[u.strip() for u in nats_url.split(",")],
            name=f"llmctl-{service}",
            logger=None,
            max_reconnect_attempts=-1,
            reconnect_time_wait=1,
            graceful_timeout=GRACEFUL_STOP_SECONDS,
        )
        self._started = False
        self._durables: list[tuple[str, str, float]] = []
        self._consumers: list[DurableConsumer] = []
        self._subscriptions: list[CoreSubscription] = []
        self._publishing: tuple[NatsClient, JetStreamContext] | None = None

    @property
    def nc(self) -> NatsClient:
        """The raw nats-py client (after :meth:`start`)."""
        return self.broker.connection

    @property
    def max_payload(self) -> int:
        """Largest message the server accepts, in bytes (its ``max_payload``, after
        :meth:`start`)."""
        return self.nc.max_payload

    @property
    def js(self) -> JetStreamContext:
        """The raw JetStream context (after :meth:`start`)."""
        return self.nc.jetstream()

    async def start(self) -> None:
        """Connect, declare streams and start every registered consumer."""
        await self.broker.connect()
        await ensure_streams(self.js)
        for stream, durable, ack_wait in self._durables:
            await reconcile_durable(self.nc, stream, durable, ack_wait_seconds=ack_wait)
        await self.broker.start()
        for consumer in self._consumers:
            await consumer.start(self.js)
        for subscription in self._subscriptions:
            await subscription.start(self.nc)
        await self.nc.flush()  # the server has every subscription once start returns
        self._started = True

    async def stop(self) -> None:
        """Drain consumers and close the connection."""
        if self._started:
            for subscription in self._subscriptions:
                await subscription.stop(timeout=GRACEFUL_STOP_SECONDS)
            for consumer in self._consumers:
                await consumer.stop(timeout=GRACEFUL_STOP_SECONDS)
            await self.broker.stop()
            self._started = False

    def consume(
        self,
        subject: str,
        durable: str,
        handler: MessageHandler,
        *,
        stream: str,
        ack_wait_seconds: float = DEFAULT_ACK_WAIT_SECONDS,
        max_workers: int = 1,
        max_ack_pending: int = 1_000,
    ) -> None:
        """Register a durable consumer.

        The handler's return acknowledges the message; an exception naks it with a short delay
        so it is redelivered (handlers must therefore be idempotent). While the handler runs,
        the message is kept in progress, so ``ack_wait_seconds`` only bounds how long a
        crashed consumer's message waits before redelivery.
        """

        self._durables.append((stream, durable, ack_wait_seconds))
        # A durable push consumer with a deliver group (the durable's name): the server pushes
        # each message the moment it is stored (no long-poll round trips), and every replica of
        # the service joins the same group, so the work is shared and survives restarts.
        # Subscribed with nats-py directly (see durable_consumer), not through FastStream.
        self._consumers.append(
            DurableConsumer(
                subject=subject,
                durable=durable,
                stream=stream,
                handler=handler,
                ack_wait_seconds=ack_wait_seconds,
                max_workers=max_workers,
                max_ack_pending=max_ack_pending,
            )
        )

    def serve(
        self, subject: str, handler: RawRequestHandler, *, max_workers: int = REQUEST_WORKERS
    ) -> None:
        """Register a request/reply handler in this service's queue group: up to
        ``max_workers`` requests of the subject at once per instance (one by default: see
        :mod:`llmctl_libs.request_server`); different subjects concurrently."""
        self._subscriptions.append(
            CoreSubscription(subject, handler, queue=self.service, max_workers=max_workers)
        )

    def listen(self, subject: str, handler: Callable[[bytes], Awaitable[None]]) -> None:
        """Register a core-NATS broadcast listener: every instance of the service gets each
        message (no queue group, no persistence: for best-effort notices such as cancels)."""
        self._subscriptions.append(CoreSubscription(subject, handler, reply=False))

    async def publish(
        self, subject: str, data: bytes, *, msg_id: str, headers: dict[str, str] | None = None
    ) -> None:
        """Publish to JetStream with ``Nats-Msg-Id`` = ``msg_id`` and wait for the ack."""
        all_headers = {"Nats-Msg-Id": msg_id, **(headers or {})}
        await self.js.publish(subject, data, headers=all_headers, timeout=10.0)

    async def publish_many(
        self, messages: Sequence[tuple[str, bytes, str]], *, timeout: float = 10.0
    ) -> None:
        """Publish ``(subject, data, msg_id)`` messages to JetStream in order and wait for all
        their acks (raises the first failure, or ``TimeoutError`` after ``timeout``).

        All are written before any ack is awaited, as by ``publish`` in ``gather``, but without
        a task, a request inbox and a timer per message: the acks come back on one shared
        reply subscription (nats-py's asynchronous publish).
        """
        nc = self.nc
        if self._publishing is None or self._publishing[0] is not nc:
            # one context for the connection: it holds the shared reply subscription
            self._publishing = (nc, nc.jetstream())
        js = self._publishing[1]
        acks = [
            await js.publish_async(subject, data, headers={"Nats-Msg-Id": msg_id})
            for subject, data, msg_id in messages
        ]
        try:
            await asyncio.wait_for(asyncio.gather(*acks), timeout)
        except BaseException:
            for ack in acks:
                ack.cancel()  # frees its slot among nats-py's pending publishes
            raise

    async def request(self, subject: str, data: bytes, *, timeout: float = 10.0) -> bytes:
        """Core NATS request/reply; raises ``nats.errors.TimeoutError``/``NoRespondersError``."""
        msg = await self.nc.request(subject, data, timeout=timeout)
        return bytes(msg.data)


async def ensure_streams(js: JetStreamContext) -> None:
    """Create or update every stream in :data:`STREAMS` (idempotent)."""
    for spec in STREAMS:
        config = spec.config()
        try:
            await js.add_stream(config=config)
        except BadRequestError:
            await js.update_stream(config=config)


async def reconcile_durable(
    nc: NatsClient, stream: str, durable: str, *, ack_wait_seconds: float
) -> None:
    """Bring an existing durable to the shape this code declares.

    A durable of another shape (e.g. a former pull consumer) is deleted and recreated: safe,
    because work-queue messages stay in the stream until acknowledged and consumers are
    idempotent (inbox), so a recreated consumer redelivering old events has no second effect.
    A durable whose ack wait differs is updated in place (the server keeps the old value when
    a consumer is merely declared again).
    """
    js = nc.jetstream()
    try:
        info = await js.consumer_info(stream, durable)
    except NotFoundError:
        return
    if info.config.deliver_group != durable:
        logger.warning("recreating consumer %s on %s as a push deliver group", durable, stream)
        await js.delete_consumer(stream, durable)
        return
    if info.config.ack_wait == ack_wait_seconds:
        return
    config = info.config
    config.ack_wait, config.name = ack_wait_seconds, durable
    request = {"stream_name": stream, "config": config.as_dict(), "action": "update"}
    reply = await nc.request(
        f"$JS.API.CONSUMER.CREATE.{stream}.{durable}", json.dumps(request).encode(), timeout=5
    )
    error = json.loads(reply.data).get("error")
    if error:
        raise RuntimeError(f"cannot update consumer {durable} on {stream}: {error}")
    logger.info("consumer %s on %s: ack wait now %gs", durable, stream, ack_wait_seconds)


async def connect_raw(nats_url: str, **kwargs: Any) -> NatsClient:
    """A plain nats-py connection (benchmarks, tools)."""
    return await nats.connect(servers=[u.strip() for u in nats_url.split(",")], **kwargs)
