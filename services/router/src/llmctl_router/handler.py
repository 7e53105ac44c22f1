"""Consumes route commands; records each decision once and announces it."""

from __future__ import annotations

from llmctl_contracts import Envelope, MessageType, decode_payload, encode, subjects
from llmctl_contracts.commands import RouteNode
from llmctl_contracts.events import NodeRoutingDecided
from llmctl_libs.messages import Trace, make_envelope
from llmctl_libs.service import Persistence
from llmctl_libs.store import NewEvent
from llmctl_libs.store.outbox import OutboxMessage

from .decide import RoutingFailure, decide

__all__ = ["RouteHandler"]


class RouteHandler:
    """Decides routing for a node run and persists it with its announcement atomically."""

    def __init__(self, persistence: Persistence) -> None:
        self._db = persistence.database
        self._once = persistence.once
        self._relay = persistence.relay

    async def __call__(self, envelope: Envelope) -> None:
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
        # one decision per routing request: ``route:<node run>`` when the node run finished,
        # ``route:<node run>:<control request>`` when a control request asks again
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
        # The command's idempotency key names the routing request, so the inbox claim
        # guarantees one decision per request; claim, event and announcement are written in
        # one statement (one round trip, one commit).
        pending = await self._once.record(
            self._db,
            consumer="router.route",
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
        if pending is not None:
            self._relay.enqueue(pending)
