"""Config change events: appended to the service's event store and queued in its outbox in
the caller's transaction, published on ``llmctl.evt.config.<entity>.<id>.<action>``."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from llmctl_contracts import encode, subjects
from llmctl_libs.messages import Trace, make_envelope
from llmctl_libs.service import Persistence
from llmctl_libs.store import NewEvent, PendingMessage
from llmctl_libs.store.outbox import OutboxMessage

__all__ = ["ConfigEvents", "trace_of"]


def trace_of(request: Any, fallback: str) -> Trace:
    """The trace of a request carrying ``request_id``/``correlation_id`` fields."""
    request_id = getattr(request, "request_id", None)
    correlation_id = getattr(request, "correlation_id", None) or request_id or fallback
    return Trace(correlation_id=correlation_id, request_id=request_id)


class ConfigEvents:
    """Writes one config event (store + outbox) per change, in the caller's transaction."""

    def __init__(self, persistence: Persistence) -> None:
        self._store = persistence.event_store
        self._outbox = persistence.outbox
        self._relay = persistence.relay

    async def record(
        self,
        conn: AsyncConnection,
        *,
        entity: str,
        entity_id: str,
        action: str,
        type_name: str,
        payload: Any,
        stream_version: int,
        trace: Trace,
    ) -> list[PendingMessage]:
        """Append the event as version ``stream_version`` of ``<entity>:<entity_id>``.

        Returns:
            The outbox rows; hand them to :meth:`publish` once the transaction commits.
        """
        key = f"{entity}:{entity_id}:{stream_version}:{action}"
        envelope = make_envelope(type_name, payload, trace=trace, idempotency_key=key)
        body = encode(envelope)
        await self._store.append(
            conn,
            f"{entity}:{entity_id}",
            stream_version - 1,
            [NewEvent(envelope.event_id, envelope.type, envelope.version, body, key)],
        )
        return await self._outbox.add(
            conn,
            [
                OutboxMessage(
                    subject=subjects.config_event(entity, entity_id, action),
                    # the event id keeps it unique beyond this database (a restored or
                    # second deployment's ``runtime_settings:default:1`` is another event);
                    # it is stored with the outbox row, so a retried publish repeats it
                    msg_id=f"{key}:{envelope.event_id}",
                    body=body,
                )
            ],
        )

    def publish(self, pending: list[PendingMessage]) -> None:
        """Publish rows whose transaction has committed."""
        self._relay.enqueue(pending)
