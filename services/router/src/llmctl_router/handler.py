"""Consumes route commands; records each decision once and announces it."""

from __future__ import annotations

from collections.abc import Sequence

from llmctl_contracts import Envelope, MessageType, decode_payload, encode, subjects
from llmctl_contracts.commands import RouteNode
from llmctl_contracts.events import NodeRoutingDecided
from llmctl_libs.batching import Batcher
from llmctl_libs.messages import Trace, make_envelope
from llmctl_libs.service import Persistence
from llmctl_libs.store import NewEvent, OnceRecord, PendingMessage
from llmctl_libs.store.outbox import OutboxMessage

from .decide import RoutingFailure, decide

__all__ = ["CONSUMER", "RouteHandler"]

CONSUMER = "router.route"
"""The router's inbox scope for route commands."""

Recorded = list[PendingMessage] | None
"""A decision's outbox rows, or ``None`` when its command was processed before."""


class RouteHandler:
    """Decides routing for a node run and persists it with its announcement atomically.

    Decisions that are made while others are being written are written together
    (:class:`~llmctl_libs.batching.Batcher`): one statement and one commit for the batch.
    """

    def __init__(self, persistence: Persistence, *, max_batch: int = 256, lanes: int = 2) -> None:
        self._db = persistence.database
        self._once = persistence.once
        self._relay = persistence.relay
        self._batcher: Batcher[OnceRecord, Recorded] = Batcher(
            self._record, max_batch=max_batch, lanes=lanes, name="router-decisions"
        )

    async def __call__(self, envelope: Envelope) -> None:
        pending = await self._batcher.submit(decision_record(envelope))
        if pending is not None:
            self._relay.enqueue(pending)

    async def _record(self, records: list[OnceRecord]) -> Sequence[Recorded | BaseException]:
        """Write a batch in one statement; if that fails, each decision alone, so one that
        cannot be written (its caller's message is redelivered) holds back no other."""
        try:
            return await self._once.record_many(self._db, records)
        except Exception:
            if len(records) == 1:
                raise
        outcomes: list[Recorded | BaseException] = []
        for record in records:
            try:
                outcomes.append((await self._once.record_many(self._db, [record]))[0])
            except Exception as exc:
                outcomes.append(exc)
        return outcomes


def decision_record(envelope: Envelope) -> OnceRecord:
    """Decide a route command and describe what recording the decision writes.

    The command's idempotency key names the routing request (``route:<node run>`` when the node
    run finished, ``route:<node run>:<control request>`` when a control request asks again), so
    the inbox claim guarantees one decision per request.
    """
    command = decode_payload(envelope, RouteNode)
    try:
        decided = NodeRoutingDecided(
            node_run_id=command.node_run_id,
            node_id=command.node.id,
            routing_state=decide(command),
        )
    except RoutingFailure as failure:
        decided = NodeRoutingDecided(
            node_run_id=command.node_run_id,
            node_id=command.node.id,
            routing_state=failure.state,
            error=failure.body,
        )
    request_key = envelope.idempotency_key.removeprefix("route:")
    key = f"routed:{request_key}"
    event = make_envelope(
        MessageType.NODE_ROUTING_DECIDED,
        decided,
        trace=Trace.caused_by(envelope),
        idempotency_key=key,
        run_id=envelope.run_id,
        node_run_id=command.node_run_id,
        sequence=1,
    )
    body = encode(event)
    return OnceRecord(
        consumer=CONSUMER,
        message_id=envelope.idempotency_key,
        stream_id=request_key,
        expected_version=0,
        events=[NewEvent(event.event_id, event.type, event.version, body, key)],
        messages=[
            OutboxMessage(
                subject=subjects.route_event(envelope.run_id or "-"), msg_id=key, body=body
            )
        ],
    )
