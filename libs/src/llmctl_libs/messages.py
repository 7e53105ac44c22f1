"""Building envelopes: the one place events and commands are wrapped for the wire."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec

from llmctl_contracts import Envelope, MessageKind, encode

from .ids import new_id

__all__ = ["Trace", "make_envelope"]


class Trace(msgspec.Struct, frozen=True, kw_only=True):
    """Correlation carried from the message being handled to the messages it causes."""

    correlation_id: str
    causation_id: str | None = None
    request_id: str | None = None

    @classmethod
    def caused_by(cls, envelope: Envelope) -> Trace:
        """The trace of messages caused by ``envelope``."""
        return cls(
            correlation_id=envelope.correlation_id,
            causation_id=envelope.event_id,
            request_id=envelope.request_id,
        )


def make_envelope(
    type_name: str,
    payload: Any,
    *,
    trace: Trace,
    idempotency_key: str,
    version: int = 1,
    kind: str = MessageKind.EVENT,
    run_id: str | None = None,
    node_run_id: str | None = None,
    sequence: int | None = None,
    event_id: str | None = None,
) -> Envelope:
    """Wrap ``payload`` in an :class:`Envelope` with a new UUIDv7 ``event_id``."""
    return Envelope(
        event_id=event_id or new_id(),
        type=type_name,
        version=version,
        occurred_at=datetime.now(UTC),
        correlation_id=trace.correlation_id,
        causation_id=trace.causation_id,
        request_id=trace.request_id,
        kind=kind,
        run_id=run_id,
        node_run_id=node_run_id,
        sequence=sequence,
        idempotency_key=idempotency_key,
        payload=msgspec.Raw(encode(payload)),
    )
