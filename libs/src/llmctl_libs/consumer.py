"""Guarded consumption: decode strictly; dead-letter what can never be processed."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable

import msgspec

from llmctl_contracts import ContractError, Envelope, ErrorBody, decode_envelope, encode

from .bus import Bus, MessageHandler

__all__ = ["DeadLetter", "dead_letter_subject", "guarded"]

logger = logging.getLogger(__name__)

EnvelopeHandler = Callable[[Envelope], Awaitable[None]]


class DeadLetter(msgspec.Struct, frozen=True, kw_only=True):
    """A message a consumer rejected, with the reason; published to the dead-letter subject."""

    consumer: str
    error: ErrorBody
    subject_headers: dict[str, str]
    body: str


def dead_letter_subject(service: str) -> str:
    """Where ``service`` dead-letters messages (kept in the events stream for inspection)."""
    return f"llmctl.evt.dlq.{service}"


def guarded(bus: Bus, service: str, handler: EnvelopeHandler) -> MessageHandler:
    """Wrap ``handler`` so malformed or unknown-version messages are dead-lettered, not retried.

    A message that fails contract decoding (envelope or payload) is published to
    :func:`dead_letter_subject` with the precise error and acknowledged; it never reaches the
    handler half-decoded. Any other exception propagates (the message is redelivered).
    """

    async def handle(body: bytes, headers: dict[str, str]) -> None:
        try:
            envelope = decode_envelope(body)
            await handler(envelope)
        except ContractError as exc:
            logger.error("%s rejected a message: %s", service, exc.body.message)
            letter = DeadLetter(
                consumer=service,
                error=exc.body,
                subject_headers=headers,
                body=body.decode("utf-8", errors="replace")[:65_536],
            )
            digest = hashlib.sha256(body).hexdigest()
            await bus.publish(
                dead_letter_subject(service), encode(letter), msg_id=f"dlq:{service}:{digest}"
            )

    return handle
