"""Relay one run's events to one websocket client: in sequence order, no gap, no duplicate.

The relay subscribes to the run's JetStream subject (ordered, ephemeral, new messages only)
*before* reading history through the orchestrator's ``run.events`` RPC, so nothing published in
between is missed: an event is committed before it is published, so one published before the
subscription is in the history the RPC reads, and one published after it arrives live (a run's
earlier messages are not replayed from the stream only to be dropped).

Every event, live or historical, is offered to one sequencer: sequences at or below the last
one sent are dropped, the next one is sent, later ones are held until the gap closes. A gap
that live delivery does not close within a short grace is filled from the RPC.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy

from llmctl_contracts import (
    ContractError,
    Envelope,
    ErrorBody,
    ErrorCode,
    decode_envelope,
    subjects,
)
from llmctl_contracts.registry import socket_event_name
from llmctl_contracts.rpc import ListRunEvents, RunEventRecord
from llmctl_libs.bus import Bus
from llmctl_libs.rpc import RpcError

from .backend import ORCHESTRATOR, rpc_call

__all__ = [
    "ClientTooSlow",
    "Emit",
    "RunRelay",
    "SendQueue",
    "event_frame",
    "record_from_envelope",
]

logger = logging.getLogger(__name__)

MAX_GAP_BACKOFF = 5.0

Emit = Callable[[dict[str, Any]], Awaitable[None]]
"""Sends one frame to the client (may raise :class:`ClientTooSlow`)."""


class ClientTooSlow(Exception):
    """The client does not read its frames fast enough; it must be disconnected."""


class SendQueue:
    """Bounded queue of encoded frames for one client.

    ``put`` waits up to ``put_timeout`` seconds for room; a client whose queue stays full that
    long is too slow: ``overflowed`` is set and :class:`ClientTooSlow` raised. ``offer`` never
    waits: a full queue sets ``overflowed`` at once.

    Args:
        maxsize: Frames buffered at most.
        put_timeout: Seconds a producer waits for room before giving up on the client.
    """

    def __init__(self, maxsize: int, put_timeout: float) -> None:
        self._queue: asyncio.Queue[str] = asyncio.Queue(maxsize=max(1, maxsize))
        self._put_timeout = put_timeout
        self.overflowed = asyncio.Event()

    async def put(self, frame: dict[str, Any]) -> None:
        """Queue one frame (JSON-encoded here)."""
        await self.put_text(msgspec.json.encode(frame).decode())

    async def put_text(self, text: str) -> None:
        """Queue one encoded frame, waiting up to ``put_timeout`` for room."""
        if self.overflowed.is_set():
            raise ClientTooSlow
        try:
            self._queue.put_nowait(text)
            return
        except asyncio.QueueFull:
            pass
        try:
            await asyncio.wait_for(self._queue.put(text), self._put_timeout)
        except TimeoutError:
            self.overflowed.set()
            raise ClientTooSlow from None

    def offer(self, text: str) -> None:
        """Queue one encoded frame without waiting: a full queue marks the client too slow
        (used where one producer serves many clients and must not wait on any of them)."""
        if self.overflowed.is_set():
            return
        try:
            self._queue.put_nowait(text)
        except asyncio.QueueFull:
            self.overflowed.set()

    async def get(self) -> str:
        """The next encoded frame."""
        return await self._queue.get()


def _timestamp(value: Any) -> str:
    return msgspec.json.encode(value).decode().strip('"')


def record_from_envelope(envelope: Envelope) -> RunEventRecord | None:
    """The client view of a run event envelope; ``None`` when it is not a usable run event."""
    if envelope.run_id is None or envelope.sequence is None or envelope.sequence < 1:
        return None
    try:
        payload = msgspec.json.decode(envelope.payload)
    except msgspec.DecodeError:
        return None
    if not isinstance(payload, dict):
        return None
    return RunEventRecord(
        event_id=envelope.event_id,
        type=envelope.type,
        version=envelope.version,
        sequence=envelope.sequence,
        occurred_at=_timestamp(envelope.occurred_at),
        run_id=envelope.run_id,
        correlation_id=envelope.correlation_id,
        payload=payload,
        node_run_id=envelope.node_run_id,
        causation_id=envelope.causation_id,
        request_id=envelope.request_id,
    )


def event_frame(record: RunEventRecord) -> dict[str, Any]:
    """The ``{"type": "event", ...}`` websocket frame of one run event."""
    return {
        "type": "event",
        "event": socket_event_name(record.type),
        "event_type": record.type,
        "event_id": record.event_id,
        "run_id": record.run_id,
        "sequence": record.sequence,
        "occurred_at": record.occurred_at,
        "correlation_id": record.correlation_id,
        "node_run_id": record.node_run_id,
        "data": record.payload,
        "superseded": record.superseded,
        "omitted": record.omitted,
    }


class RunRelay:
    """Relays one run's events to one client.

    Args:
        bus: The gateway's started bus.
        run_id: Run to follow.
        after_sequence: Last sequence the client already has (0: from the start).
        emit: Sends one frame to the client.
        rpc_timeout: Seconds to wait for ``run.events``.
        page: Events requested per ``run.events`` call.
        gap_grace: Seconds a held out-of-order event waits before a history fill.
        max_backlog: Live events held for this client at most (0: no limit). Past it live
            events are dropped: the gap they leave is filled from the orchestrator's history
            in order, so memory stays bounded and nothing is lost (a run's whole history
            arrives live at once when a client subscribes to it).
    """

    def __init__(
        self,
        bus: Bus,
        run_id: str,
        after_sequence: int,
        emit: Emit,
        *,
        rpc_timeout: float,
        page: int,
        gap_grace: float,
        max_backlog: int = 0,
    ) -> None:
        self.run_id = run_id
        self.after_sequence = after_sequence
        self.last_sent = after_sequence
        self._bus = bus
        self._emit = emit
        self._rpc_timeout = rpc_timeout
        self._page = max(1, page)
        self._grace = gap_grace
        self._pending: dict[int, RunEventRecord] = {}
        self._live: asyncio.Queue[RunEventRecord] = asyncio.Queue()
        self._max_backlog = max_backlog
        self._dropped = False

    async def _on_message(self, msg: Msg) -> None:
        try:
            envelope = decode_envelope(msg.data)
        except ContractError as exc:
            logger.warning("dropping malformed run event on %s: %s", msg.subject, exc)
            return
        record = record_from_envelope(envelope)
        if record is None or record.run_id != self.run_id:
            logger.warning(
                "dropping run event %s on %s: no run/sequence", envelope.event_id, msg.subject
            )
            return
        if self._max_backlog and self._live.qsize() >= self._max_backlog:
            self._dropped = True  # filled from history once the backlog is read
            return
        self._live.put_nowait(record)

    async def _offer(self, record: RunEventRecord) -> None:
        """Send ``record`` if it is next, hold it if early, drop it if already sent."""
        if record.sequence <= self.last_sent:
            return
        self._pending.setdefault(record.sequence, record)
        while (following := self._pending.pop(self.last_sent + 1, None)) is not None:
            await self._emit(event_frame(following))
            self.last_sent = following.sequence
        # Anything at or below last_sent can no longer be sent.
        for stale in [s for s in self._pending if s <= self.last_sent]:
            del self._pending[stale]

    async def _fill(self) -> None:
        """Fetch history after ``last_sent`` from the orchestrator, page by page, until a
        page brings nothing new (a page of large events holds fewer than ``limit``)."""
        while True:
            before = self.last_sent
            page: list[RunEventRecord] = await rpc_call(
                self._bus,
                ORCHESTRATOR,
                "run.events",
                ListRunEvents(run_id=self.run_id, after_sequence=before, limit=self._page),
                list[RunEventRecord],
                timeout=self._rpc_timeout,
            )
            for record in sorted(page, key=lambda r: r.sequence):
                if record.run_id == self.run_id:
                    await self._offer(record)
            if self.last_sent == before:
                return

    async def _error(self, body: ErrorBody) -> None:
        await self._emit({"type": "error", "ok": False, "run_id": self.run_id, "error": body})

    async def run(self) -> None:
        """Subscribe, replay history, then relay live events until cancelled.

        Ends by itself only when the run does not exist (after an error frame).

        Raises:
            ClientTooSlow: The client's send queue stayed full.
        """
        try:
            sub = await self._bus.js.subscribe(
                subjects.run_events(self.run_id),
                cb=self._on_message,
                ordered_consumer=True,
                deliver_policy=DeliverPolicy.NEW,
                stream=subjects.EVT_STREAM,
            )
        except Exception as exc:
            logger.warning("cannot follow run %s: %r", self.run_id, exc)
            await self._error(
                ErrorBody(code=ErrorCode.UNAVAILABLE, message="run event stream is unavailable")
            )
            return
        try:
            await self._emit(
                {"type": "subscribed", "run_id": self.run_id, "after_sequence": self.after_sequence}
            )
            try:
                await self._fill()
            except RpcError as exc:
                await self._error(exc.body)
                if exc.body.code is ErrorCode.NOT_FOUND:
                    return
            await self._relay_live()
        finally:
            try:
                await sub.unsubscribe()
            except Exception as exc:  # the connection may already be gone
                logger.debug("unsubscribe from run %s failed: %r", self.run_id, exc)

    async def _relay_live(self) -> None:
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        backoff = self._grace
        while True:
            if self._pending and deadline is None:
                deadline = loop.time() + self._grace
            elif not self._pending:
                deadline, backoff = None, self._grace
            if self._dropped and self._live.empty():
                self._dropped = False
                try:
                    await self._fill()
                except RpcError as exc:
                    self._dropped = True
                    logger.warning(
                        "backlog fill for run %s failed: %s", self.run_id, exc.body.message
                    )
                    await asyncio.sleep(self._grace)
                continue
            try:
                if deadline is None:
                    record = await self._live.get()
                else:
                    record = await asyncio.wait_for(
                        self._live.get(), max(0.0, deadline - loop.time())
                    )
            except TimeoutError:
                try:
                    await self._fill()
                except RpcError as exc:
                    logger.warning("gap fill for run %s failed: %s", self.run_id, exc.body.message)
                if self._pending:
                    backoff = min(backoff * 2, MAX_GAP_BACKOFF)
                    deadline = loop.time() + backoff
                continue
            await self._offer(record)
