"""The envelope every event and command travels in."""

from __future__ import annotations

from datetime import datetime

import msgspec

__all__ = ["Envelope", "MessageKind"]


class MessageKind:
    """What an envelope carries: a fact that happened, or work to do."""

    EVENT = "event"
    COMMAND = "command"


class Envelope(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Wire envelope shared by every event and command.

    Attributes:
        event_id: UUIDv7 of this message; unique across the system.
        type: Dotted message type, e.g. ``node.succeeded`` or ``node.execute``.
        version: Version of ``type``'s payload schema; bumped on breaking changes.
        occurred_at: When the fact happened (or the command was issued), UTC.
        correlation_id: The originating request this message belongs to.
        causation_id: ``event_id`` of the message that caused this one, if any.
        request_id: Client request id (HTTP ``X-Request-ID``) at the origin.
        kind: ``event`` or ``command``.
        run_id: Run this message belongs to, if any.
        node_run_id: Node run this message belongs to, if any.
        sequence: Position in the owning stream (run events: 1, 2, 3, ...).
        idempotency_key: Deterministic key; used as ``Nats-Msg-Id`` when published.
        payload: The type-specific body, decoded against the registered payload type.
    """

    event_id: str
    type: str
    version: int
    occurred_at: datetime
    correlation_id: str
    causation_id: str | None = None
    request_id: str | None = None
    kind: str = MessageKind.EVENT
    run_id: str | None = None
    node_run_id: str | None = None
    sequence: int | None = None
    idempotency_key: str
    payload: msgspec.Raw
