"""Relay configuration events (providers, models, runtime settings, flowcharts) to one client.

Services publish configuration changes as ordinary envelopes on
``llmctl.evt.config.<entity>.<id>.<action>`` (stream ``LLMCTL_EVT``). A client's ``sequence``
is the JetStream stream sequence of the event, so a client that resubscribes with the last
sequence it saw receives exactly the config events after it (an ordered consumer starting at
the next stream sequence), then live ones. The stream is shared with run events, so config
sequences increase but are not contiguous.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import msgspec
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy

from llmctl_contracts import ContractError, ErrorBody, ErrorCode, decode_envelope, subjects
from llmctl_libs.bus import Bus

from .relay import Emit

__all__ = ["CONFIG_TOPIC", "ConfigRelay", "config_frame", "parse_config_subject"]

logger = logging.getLogger(__name__)

CONFIG_TOPIC = "config"
"""Topic name of configuration events in websocket frames."""

_PREFIX = "llmctl.evt.config."


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


class ConfigRelay:
    """Relays config events to one client, in stream order, from ``after_sequence`` on.

    Args:
        bus: The gateway's started bus.
        after_sequence: Last stream sequence the client has; ``None``: only events from now.
        emit: Sends one frame to the client.
    """

    def __init__(self, bus: Bus, after_sequence: int | None, emit: Emit) -> None:
        self._bus = bus
        self._requested = after_sequence
        self._emit = emit
        self._live: asyncio.Queue[Msg] = asyncio.Queue()
        self.last_sent = after_sequence or 0

    async def _on_message(self, msg: Msg) -> None:
        self._live.put_nowait(msg)

    async def _start_after(self) -> int:
        if self._requested is not None:
            return self._requested
        info = await self._bus.js.stream_info(subjects.EVT_STREAM)
        return int(info.state.last_seq)

    async def run(self) -> None:
        """Subscribe, announce the resume point, relay until cancelled.

        Raises:
            ClientTooSlow: The client's send queue stayed full.
        """
        try:
            after = await self._start_after()
            sub = await self._bus.js.subscribe(
                subjects.config_events_all(),
                cb=self._on_message,
                ordered_consumer=True,
                stream=subjects.EVT_STREAM,
                config=ConsumerConfig(
                    deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=after + 1
                ),
            )
        except Exception as exc:
            logger.warning("cannot follow config events: %r", exc)
            await self._emit(
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
        self.last_sent = after
        try:
            await self._emit({"type": "subscribed", "topic": CONFIG_TOPIC, "after_sequence": after})
            while True:
                msg = await self._live.get()
                sequence = msg.metadata.sequence.stream
                if sequence <= self.last_sent:
                    continue  # redelivered after a consumer reset
                frame = config_frame(msg)
                self.last_sent = sequence
                if frame is not None:
                    await self._emit(frame)
        finally:
            try:
                await sub.unsubscribe()
            except Exception as exc:  # the connection may already be gone
                logger.debug("unsubscribe from config events failed: %r", exc)
