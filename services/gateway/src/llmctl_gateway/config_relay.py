"""Relay configuration events (providers, models, runtime settings, flowcharts) to clients.

Services publish configuration changes as ordinary envelopes on
``llmctl.evt.config.<entity>.<id>.<action>`` (stream ``LLMCTL_EVT``). A client's ``sequence``
is the JetStream stream sequence of the event, so a client that resubscribes with the last
sequence it saw receives exactly the config events after it, then live ones. The stream is
shared with run events, so config sequences increase but are not contiguous.

One :class:`ConfigHub` per gateway holds the only live subscription: each event is decoded and
encoded once, kept in a short history, and offered to every following client without waiting
on any of them (a client whose send queue is full is disconnected, see
:class:`~llmctl_gateway.relay.SendQueue`). A client resuming from further back than the
history first reads the missed events from JetStream on its own. A client may follow only some
entities or entity ids (:class:`ConfigFilter`); the events it skips still advance its position.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import msgspec
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy

from llmctl_contracts import ContractError, ErrorBody, ErrorCode, decode_envelope, subjects
from llmctl_libs.bus import Bus

from .relay import ClientTooSlow, SendQueue

__all__ = [
    "CONFIG_TOPIC",
    "ConfigFilter",
    "ConfigHub",
    "ConfigItem",
    "ConfigRelay",
    "config_frame",
    "parse_config_subject",
]

logger = logging.getLogger(__name__)

CONFIG_TOPIC = "config"
"""Topic name of configuration events in websocket frames."""

HISTORY = 4096
"""Recent config events the hub keeps for clients resuming from just behind it."""

CATCH_UP_BATCH = 256
CATCH_UP_IDLE = 0.5
"""Seconds a catch-up read waits for more before deciding it has read everything."""

_PREFIX = "llmctl.evt.config."


class ConfigItem(NamedTuple):
    """One usable config event: its entity, entity id and encoded frame."""

    entity: str
    entity_id: str
    text: str


@dataclass(frozen=True, slots=True)
class ConfigFilter:
    """Which config events a client follows (``None``: no restriction on that part)."""

    entities: frozenset[str] | None = None
    entity_ids: frozenset[str] | None = None

    def accepts(self, item: ConfigItem) -> bool:
        """Whether ``item`` goes to the client."""
        return (self.entities is None or item.entity in self.entities) and (
            self.entity_ids is None or item.entity_id in self.entity_ids
        )


ALL_CONFIG = ConfigFilter()

Deliver = Callable[[int, ConfigItem | None], None]
"""Takes one event (stream sequence, the event or ``None`` when unusable); never blocks."""


def parse_config_subject(subject: str) -> tuple[str, str, str] | None:
    """``(entity, entity_id, action)`` of a config event subject, ``None`` if it is not one."""
    if not subject.startswith(_PREFIX):
        return None
    tokens = subject[len(_PREFIX) :].split(".")
    if len(tokens) < 3 or not all(tokens):
        return None
    return tokens[0], ".".join(tokens[1:-1]), tokens[-1]


def config_frame(msg: Msg) -> dict[str, Any] | None:
    """The ``config:<entity>:<action>`` event frame of one JetStream message, or ``None``."""
    parsed = parse_config_subject(msg.subject)
    if parsed is None:
        return None
    entity, entity_id, action = parsed
    try:
        envelope = decode_envelope(msg.data)
        payload = msgspec.json.decode(envelope.payload)
    except (ContractError, msgspec.DecodeError) as exc:
        logger.warning("dropping malformed config event on %s: %s", msg.subject, exc)
        return None
    return {
        "type": "event",
        "topic": CONFIG_TOPIC,
        "event": f"config:{entity}:{action}",
        "event_type": envelope.type,
        "event_id": envelope.event_id,
        "entity": entity,
        "entity_id": entity_id,
        "sequence": msg.metadata.sequence.stream,
        "occurred_at": msgspec.json.encode(envelope.occurred_at).decode().strip('"'),
        "correlation_id": envelope.correlation_id,
        "data": payload,
    }


def _encoded(msg: Msg) -> ConfigItem | None:
    frame = config_frame(msg)
    if frame is None:
        return None
    return ConfigItem(frame["entity"], frame["entity_id"], msgspec.json.encode(frame).decode())


class ConfigHub:
    """The gateway's one live subscription to config events, fanned out to its clients.

    Args:
        bus: The gateway's started bus.
        history: Recent events kept for clients resuming from just behind the hub.
    """

    def __init__(self, bus: Bus, history: int = HISTORY) -> None:
        self._bus = bus
        self._recent: deque[tuple[int, ConfigItem | None]] = deque(maxlen=max(1, history))
        self._covered_after = 0  # the history holds every config event after this sequence
        self.last_sequence = 0
        self._followers: dict[int, Deliver] = {}
        self._ids = itertools.count()
        self._sub: Any = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        """Subscribe from the stream's current end (once; later calls return at once)."""
        async with self._lock:
            if self._sub is not None:
                return
            info = await self._bus.js.stream_info(subjects.EVT_STREAM)
            self.last_sequence = self._covered_after = int(info.state.last_seq)
            self._sub = await self._bus.js.subscribe(
                subjects.config_events_all(),
                cb=self._on_message,
                ordered_consumer=True,
                stream=subjects.EVT_STREAM,
                config=ConsumerConfig(
                    deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                    opt_start_seq=self.last_sequence + 1,
                ),
            )

    async def stop(self) -> None:
        """Drop the subscription (the followers' relays end with their sockets)."""
        async with self._lock:
            sub, self._sub = self._sub, None
        if sub is not None:
            with contextlib.suppress(Exception):  # the connection may already be gone
                await sub.unsubscribe()

    async def _on_message(self, msg: Msg) -> None:
        sequence = msg.metadata.sequence.stream
        if sequence <= self.last_sequence:
            return  # redelivered after a consumer reset
        item = _encoded(msg)
        if len(self._recent) == self._recent.maxlen:
            self._covered_after = self._recent[0][0]
        self._recent.append((sequence, item))
        self.last_sequence = sequence
        for deliver in list(self._followers.values()):
            deliver(sequence, item)

    def follow(self, deliver: Deliver) -> int:
        """Offer every event from now on to ``deliver``; returns the handle for :meth:`leave`."""
        handle = next(self._ids)
        self._followers[handle] = deliver
        return handle

    def leave(self, handle: int) -> None:
        """Stop offering events to a follower."""
        self._followers.pop(handle, None)

    def recent_after(self, sequence: int) -> list[tuple[int, ConfigItem | None]] | None:
        """Events after ``sequence`` up to now from the history, ``None`` if it reaches back
        less far than that."""
        if sequence < self._covered_after:
            return None
        return [(s, t) for s, t in self._recent if s > sequence]


class ConfigRelay:
    """Relays config events to one client, in stream order, from ``after_sequence`` on.

    Args:
        bus: The gateway's started bus (for catching up from further back than the history).
        hub: The gateway's config hub.
        after_sequence: Last stream sequence the client has; ``None``: only events from now.
        queue: The client's send queue.
        only: The events the client follows (default: all).
    """

    def __init__(
        self,
        bus: Bus,
        hub: ConfigHub,
        after_sequence: int | None,
        queue: SendQueue,
        only: ConfigFilter = ALL_CONFIG,
    ) -> None:
        self._bus = bus
        self._hub = hub
        self._requested = after_sequence
        self._queue = queue
        self._only = only
        self._held: list[tuple[int, ConfigItem | None]] = []
        self._catching_up = True
        self.last_sent = 0

    def _wanted(self, item: ConfigItem | None) -> str | None:
        return None if item is None or not self._only.accepts(item) else item.text

    def _deliver(self, sequence: int, item: ConfigItem | None) -> None:
        if self._catching_up:
            self._held.append((sequence, item))
            if len(self._held) > HISTORY:
                self._queue.overflowed.set()  # cannot catch up with the live stream
            return
        if sequence > self.last_sent:
            self.last_sent = sequence
            if (text := self._wanted(item)) is not None:
                self._queue.offer(text)

    async def _send(self, sequence: int, item: ConfigItem | None) -> None:
        if sequence <= self.last_sent:
            return
        self.last_sent = sequence
        if (text := self._wanted(item)) is not None:
            await self._queue.put_text(text)

    async def _read_stream(self, after: int, upto: int) -> None:
        """Send config events with ``after < sequence <= upto`` read from JetStream."""
        sub = await self._bus.js.pull_subscribe(
            subjects.config_events_all(),
            stream=subjects.EVT_STREAM,
            config=ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                opt_start_seq=after + 1,
                inactive_threshold=30.0,
            ),
        )
        try:
            while self.last_sent < upto:
                try:
                    batch = await sub.fetch(CATCH_UP_BATCH, timeout=CATCH_UP_IDLE)
                except TimeoutError:
                    return  # nothing more in the stream
                for msg in batch:
                    sequence = msg.metadata.sequence.stream
                    if sequence > upto:
                        return  # the hub holds the rest
                    await self._send(sequence, _encoded(msg))
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def run(self) -> None:
        """Follow the hub, send what the client missed, then relay live events until cancelled.

        Raises:
            ClientTooSlow: The client's send queue overflowed.
        """
        try:
            await self._hub.start()
        except Exception as exc:
            logger.warning("cannot follow config events: %r", exc)
            await self._queue.put(
                {
                    "type": "error",
                    "ok": False,
                    "topic": CONFIG_TOPIC,
                    "error": ErrorBody(
                        code=ErrorCode.UNAVAILABLE, message="config event stream is unavailable"
                    ),
                }
            )
            return
        handle = self._hub.follow(self._deliver)
        try:
            upto = self._hub.last_sequence
            after = upto if self._requested is None else self._requested
            self.last_sent = after
            ack: dict[str, Any] = {
                "type": "subscribed",
                "topic": CONFIG_TOPIC,
                "after_sequence": after,
            }
            if self._only.entities is not None:
                ack["entities"] = sorted(self._only.entities)
            if self._only.entity_ids is not None:
                ack["entity_ids"] = sorted(self._only.entity_ids)
            await self._queue.put(ack)
            if after < upto:
                recent = self._hub.recent_after(after)
                if recent is None:
                    await self._read_stream(after, upto)
                else:
                    for sequence, item in recent:
                        if sequence <= upto:
                            await self._send(sequence, item)
            # Switch to live delivery with no await in between: nothing is missed or repeated.
            for sequence, item in self._held:
                if sequence > self.last_sent:
                    self.last_sent = sequence
                    if (text := self._wanted(item)) is not None:
                        self._queue.offer(text)
            self._held.clear()
            self._catching_up = False
            if self._queue.overflowed.is_set():
                raise ClientTooSlow
            await asyncio.Event().wait()  # live events arrive through _deliver
        finally:
            self._hub.leave(handle)
