"""Websocket ``/api/v1/ws``: clients subscribe to runs and receive their events in order.

Protocol (JSON text frames):

* client -> server: ``{"type": "subscribe", "run_id": "...", "after_sequence": 0}`` and
  ``{"type": "unsubscribe", "run_id": "..."}`` (any number of runs on one socket);
  ``{"type": "subscribe_config", "after_sequence": N, "entities": [...], "entity_ids": [...]}``
  (each optional: from now, every entity, every id) and ``{"type": "unsubscribe_config"}`` for
  configuration events.
* server -> client: ``{"type": "subscribed", "run_id", "after_sequence"}``, then
  ``{"type": "event", "event", "event_type", "event_id", "run_id", "sequence", "occurred_at",
  "correlation_id", "node_run_id", "data", "superseded"}`` frames in sequence order; ``{"type":
  "unsubscribed", "run_id"}``; ``{"type": "error", "ok": false, "error": {...}}`` (with
  ``run_id`` when it concerns one subscription).
* config: ``{"type": "subscribed", "topic": "config", "after_sequence"}`` (plus the filters
  given), then ``{"type":
  "event", "topic": "config", "event": "config:<entity>:<action>", "event_type", "event_id",
  "entity", "entity_id", "sequence", "occurred_at", "correlation_id", "data"}`` frames, where
  ``sequence`` is the JetStream stream sequence (resume with it); ``{"type": "unsubscribed",
  "topic": "config"}``.

A client whose send queue stays full is closed with code 1008 and reason
``client too slow: send queue overflowed``; a disallowed ``Origin`` is refused (close 4403
before accept, i.e. HTTP 403).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Protocol

import msgspec
from litestar import WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect

from llmctl_contracts import (
    ContractError,
    ErrorBody,
    ErrorCode,
    ErrorEnvelope,
    FieldError,
    decode_strict,
)
from llmctl_libs.bus import Bus

from .config_relay import CONFIG_TOPIC, ConfigFilter, ConfigHub, ConfigRelay
from .context import request_ids
from .origin import origin_allowed
from .relay import ClientTooSlow, RunRelay, SendQueue
from .settings import GatewaySettings

__all__ = [
    "CLOSE_ORIGIN_REFUSED",
    "CLOSE_TOO_SLOW",
    "ClientMessage",
    "ClientSession",
    "Subscribe",
    "SubscribeConfig",
    "Unsubscribe",
    "UnsubscribeConfig",
    "run_events_socket",
]

logger = logging.getLogger(__name__)

CLOSE_TOO_SLOW = 1008
CLOSE_ORIGIN_REFUSED = 4403
TOO_SLOW_REASON = "client too slow: send queue overflowed"
MAX_CLIENT_MESSAGE = 64 * 1024

RunId = Annotated[
    str, msgspec.Meta(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_-]+(?!\n)$")
]


class Subscribe(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,
    tag_field="type",
    tag="subscribe",
):
    """Follow a run's events after ``after_sequence``."""

    run_id: RunId
    after_sequence: Annotated[int, msgspec.Meta(ge=0)] = 0


class Unsubscribe(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,
    tag_field="type",
    tag="unsubscribe",
):
    """Stop following a run."""

    run_id: RunId


ConfigEntity = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{0,63}(?!\n)$")]
ConfigEntityId = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class SubscribeConfig(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,
    tag_field="type",
    tag="subscribe_config",
):
    """Follow configuration events after stream sequence ``after_sequence`` (``None``: now),
    optionally only of some ``entities`` and/or ``entity_ids``."""

    after_sequence: Annotated[int, msgspec.Meta(ge=0)] | None = None
    entities: Annotated[list[ConfigEntity], msgspec.Meta(min_length=1, max_length=16)] | None = None
    entity_ids: (
        Annotated[list[ConfigEntityId], msgspec.Meta(min_length=1, max_length=256)] | None
    ) = None


class UnsubscribeConfig(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,
    tag_field="type",
    tag="unsubscribe_config",
):
    """Stop following configuration events."""


ClientMessage = Subscribe | Unsubscribe | SubscribeConfig | UnsubscribeConfig
"""Every message a client may send."""


class SocketLike(Protocol):
    """The part of a websocket a session uses (a Litestar ``WebSocket`` in production)."""

    @property
    def receive(self) -> Callable[[], Awaitable[Any]]:
        """The ASGI receive function."""
        ...

    async def send_text(self, data: str) -> None: ...

    async def close(self, code: int = 1000, reason: str | None = None) -> None: ...


def _decode(data: str | bytes) -> ClientMessage:
    message: ClientMessage = decode_strict(data, ClientMessage, what="client message")  # type: ignore[arg-type]
    return message


class ClientSession:
    """One connected client: its send queue and its run subscriptions.

    Args:
        socket: The accepted websocket.
        bus: The gateway's bus (``None``: subscriptions answer ``unavailable``).
        settings: Gateway settings (queue size, timeouts, limits).
    """

    def __init__(
        self,
        socket: SocketLike,
        bus: Bus | None,
        settings: GatewaySettings,
        hubs: dict[str, Any] | None = None,
    ) -> None:
        self._socket = socket
        self._bus = bus
        self._hubs = hubs if hubs is not None else {}
        self._settings = settings
        self.queue = SendQueue(settings.ws_send_queue, settings.ws_send_timeout)
        self.subscriptions: dict[str, asyncio.Task[None]] = {}
        self.config_subscription: asyncio.Task[None] | None = None

    async def serve(self) -> None:
        """Run until the client leaves or is too slow; always cleans up its subscriptions."""
        sender = asyncio.create_task(self._send_loop())
        receiver = asyncio.create_task(self._receive_loop())
        overflow = asyncio.create_task(self.queue.overflowed.wait())
        try:
            done, _ = await asyncio.wait(
                {sender, receiver, overflow}, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            tasks = [sender, receiver, overflow, *self.subscriptions.values()]
            if self.config_subscription is not None:
                tasks.append(self.config_subscription)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.subscriptions.clear()
        if overflow in done:
            logger.warning("disconnecting websocket client: %s", TOO_SLOW_REASON)
            await self._close(CLOSE_TOO_SLOW, TOO_SLOW_REASON)
        elif receiver in done and receiver.exception() is not None:
            logger.error("websocket session failed", exc_info=receiver.exception())
            await self._close(1011, "internal error")

    async def _close(self, code: int, reason: str) -> None:
        # A client that reads nothing never takes the close frame either: do not wait forever.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(
                self._socket.close(code=code, reason=reason), self._settings.ws_send_timeout + 1
            )

    async def _send_loop(self) -> None:
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                await self._socket.send_text(await self.queue.get())

    async def _receive_loop(self) -> None:
        while True:
            try:
                message = await self._socket.receive()
            except WebSocketDisconnect:
                return
            kind = message.get("type")
            if kind == "websocket.disconnect":
                return
            if kind != "websocket.receive":
                continue
            data = message.get("text")
            if data is None:
                data = message.get("bytes")
            await self._handle(data)

    async def _send_error(self, body: ErrorBody, run_id: str | None = None) -> None:
        frame: dict[str, Any] = {"type": "error", "ok": False, "error": body}
        if run_id is not None:
            frame["run_id"] = run_id
        with contextlib.suppress(ClientTooSlow):
            await self.queue.put(frame)

    async def _handle(self, data: str | bytes | None) -> None:
        if not data:
            await self._send_error(ErrorBody(code=ErrorCode.MALFORMED, message="empty message"))
            return
        if len(data) > MAX_CLIENT_MESSAGE:
            await self._send_error(ErrorBody(code=ErrorCode.MALFORMED, message="message too large"))
            return
        try:
            message = _decode(data)
        except ContractError as exc:
            await self._send_error(exc.body)
            return
        if isinstance(message, Subscribe):
            await self._subscribe(message)
        elif isinstance(message, Unsubscribe):
            await self._unsubscribe(message.run_id)
        elif isinstance(message, SubscribeConfig):
            await self._subscribe_config(message)
        else:
            await self._unsubscribe_config()

    async def _subscribe(self, message: Subscribe) -> None:
        existing = self.subscriptions.pop(message.run_id, None)
        if existing is not None:
            existing.cancel()
            await asyncio.gather(existing, return_exceptions=True)
        if len(self.subscriptions) >= self._settings.ws_max_subscriptions:
            await self._send_error(
                ErrorBody(
                    code=ErrorCode.CONFLICT,
                    message=f"at most {self._settings.ws_max_subscriptions} subscriptions",
                ),
                message.run_id,
            )
            return
        if self._bus is None:
            await self._send_error(
                ErrorBody(code=ErrorCode.UNAVAILABLE, message="message bus not connected"),
                message.run_id,
            )
            return
        relay = RunRelay(
            self._bus,
            message.run_id,
            message.after_sequence,
            self.queue.put,
            rpc_timeout=self._settings.rpc_timeout,
            page=self._settings.history_page,
            gap_grace=self._settings.ws_gap_grace,
            max_backlog=4 * self._settings.ws_send_queue,
        )
        task = asyncio.create_task(self._run_relay(relay))
        self.subscriptions[message.run_id] = task

    async def _run_relay(self, relay: RunRelay) -> None:
        try:
            await relay.run()
        except ClientTooSlow:
            pass  # serve() sees the overflow and closes the connection
        except Exception:
            logger.exception("relay of run %s failed", relay.run_id)
            await self._send_error(
                ErrorBody(code=ErrorCode.INTERNAL, message="run event relay failed"),
                relay.run_id,
            )
        finally:
            current = asyncio.current_task()
            if self.subscriptions.get(relay.run_id) is current:
                del self.subscriptions[relay.run_id]

    async def _unsubscribe(self, run_id: str) -> None:
        task = self.subscriptions.pop(run_id, None)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        with contextlib.suppress(ClientTooSlow):
            await self.queue.put({"type": "unsubscribed", "run_id": run_id})

    def _hub(self) -> ConfigHub:
        """The gateway's config hub (one per app, created on first use)."""
        hub = self._hubs.get(CONFIG_TOPIC)
        if not isinstance(hub, ConfigHub):
            assert self._bus is not None
            hub = self._hubs[CONFIG_TOPIC] = ConfigHub(self._bus)
        return hub

    async def _subscribe_config(self, message: SubscribeConfig) -> None:
        await self._stop_config()
        if self._bus is None:
            await self._send_error(
                ErrorBody(code=ErrorCode.UNAVAILABLE, message="message bus not connected")
            )
            return
        only = ConfigFilter(
            entities=None if message.entities is None else frozenset(message.entities),
            entity_ids=None if message.entity_ids is None else frozenset(message.entity_ids),
        )
        relay = ConfigRelay(self._bus, self._hub(), message.after_sequence, self.queue, only)
        self.config_subscription = asyncio.create_task(self._run_config(relay))

    async def _run_config(self, relay: ConfigRelay) -> None:
        try:
            await relay.run()
        except ClientTooSlow:
            pass  # serve() sees the overflow and closes the connection
        except Exception:
            logger.exception("relay of config events failed")
            with contextlib.suppress(ClientTooSlow):
                await self.queue.put(
                    {
                        "type": "error",
                        "ok": False,
                        "topic": CONFIG_TOPIC,
                        "error": ErrorBody(
                            code=ErrorCode.INTERNAL, message="config event relay failed"
                        ),
                    }
                )

    async def _stop_config(self) -> None:
        task, self.config_subscription = self.config_subscription, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _unsubscribe_config(self) -> None:
        await self._stop_config()
        with contextlib.suppress(ClientTooSlow):
            await self.queue.put({"type": "unsubscribed", "topic": CONFIG_TOPIC})


async def _refuse_origin(socket: WebSocket[Any, Any, Any]) -> None:
    """Answer the handshake 403 with the error envelope where the server can (ASGI
    ``websocket.http.response``), else close with :data:`CLOSE_ORIGIN_REFUSED` (also a 403)."""
    if "websocket.http.response" not in (socket.scope.get("extensions") or {}):
        await socket.close(code=CLOSE_ORIGIN_REFUSED, reason="origin not allowed")
        return
    ids = request_ids(socket.scope)
    body = msgspec.json.encode(
        ErrorEnvelope(
            error=ErrorBody(
                code=ErrorCode.MALFORMED,
                message="origin not allowed",
                details=[FieldError(field="header.Origin", reason="not an allowed origin")],
                request_id=ids.request_id,
            ),
            correlation_id=ids.correlation_id,
        )
    )
    start: Any = {
        "type": "websocket.http.response.start",
        "status": 403,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
    }
    await socket.send(start)
    await socket.send({"type": "websocket.http.response.body", "body": body, "more_body": False})


@websocket("/ws")
async def run_events_socket(socket: WebSocket[Any, Any, Any]) -> None:
    """Relay run events to a client; see the module docstring for the protocol."""
    settings = socket.app.state.get("settings")
    if not isinstance(settings, GatewaySettings):
        settings = GatewaySettings()
    bus = socket.app.state.get("bus")
    origin = socket.headers.get("origin")
    if not origin_allowed(origin, socket.headers.get("host"), settings.allowed_origins):
        logger.warning("refused websocket from origin %r", origin)
        await _refuse_origin(socket)
        return
    await socket.accept()
    hubs = socket.app.state.get("hubs")
    if not isinstance(hubs, dict):
        hubs = socket.app.state.hubs = {}
    session = ClientSession(socket, bus if isinstance(bus, Bus) else None, settings, hubs)
    await session.serve()
