"""Typed request/reply on top of :class:`~llmctl_libs.bus.Bus` with the shared error envelope."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec
import nats.errors
import psycopg
import sqlalchemy.exc

from llmctl_contracts import ContractError, ErrorBody, ErrorCode, decode_strict, encode
from llmctl_contracts.rpc import RpcReply

from .bus import Bus
from .request_server import REQUEST_WORKERS

__all__ = [
    "ENVELOPE_HEADROOM",
    "NO_RESPONDERS_GRACE_SECONDS",
    "RpcError",
    "call",
    "endpoint",
    "request_limit",
]

logger = logging.getLogger(__name__)

NO_RESPONDERS_GRACE_SECONDS = 1.0
_NO_RESPONDERS_BACKOFF = 0.05

ENVELOPE_HEADROOM = 64 * 1024
"""Bytes of the bus's ``max_payload`` a request leaves free: what a service stores from a
request (a run's input, a flowchart) travels on in events and commands inside an envelope, with
headers, and those must fit in one message too."""

_DATABASE_TROUBLE = (psycopg.OperationalError, sqlalchemy.exc.OperationalError)
"""Connection loss, an administrator shutdown, a cancelled statement: a retry may succeed."""

Req = TypeVar("Req")
Res = TypeVar("Res")


class RpcError(Exception):
    """A remote operation answered with an error (or did not answer)."""

    def __init__(self, body: ErrorBody) -> None:
        super().__init__(body.message)
        self.body = body


def request_limit(bus: Bus) -> int:
    """Largest request body, in bytes, :func:`call` sends over ``bus`` (connected)."""
    return bus.max_payload - ENVELOPE_HEADROOM


def _request_too_large(subject: str, size: int, limit: int) -> RpcError:
    reason = f"is {size:,} bytes; a request may be at most {limit:,} bytes"
    return RpcError(
        ErrorBody.for_field(
            ErrorCode.TOO_LARGE,
            "body",
            reason,
            message=f"the request to {subject} {reason} (the message bus's max_payload, less "
            f"{ENVELOPE_HEADROOM:,} bytes for the envelope of what is stored from it)",
        )
    )


def _answer_too_large(subject: str, size: int, limit: int) -> bytes:
    return encode(
        RpcReply(
            ok=False,
            error=ErrorBody(
                code=ErrorCode.TOO_LARGE,
                message=f"the answer to {subject} would be {size:,} bytes, more than the "
                f"message bus carries ({limit:,} bytes); ask for less (a smaller page or limit)",
            ),
        )
    )


def endpoint(
    bus: Bus,
    subject: str,
    request_type: type[Req],
    func: Callable[[Req], Awaitable[Any]],
    *,
    max_workers: int = REQUEST_WORKERS,
) -> None:
    """Serve ``func`` on ``subject``: decode strictly, reply ``RpcReply``; never crash.

    Errors: a contract or ``RpcError`` body as it is; database trouble a retry may cure (the
    connection was lost, Postgres restarted) as ``unavailable``; a result larger than the bus
    carries as ``too_large`` (it could never be delivered); anything else ``internal``.

    ``max_workers`` requests are handled at once; raise it only for a ``func`` that holds at
    most one pooled database connection at a time (see :mod:`llmctl_libs.request_server`).
    """

    async def handle(data: bytes) -> bytes:
        try:
            request = decode_strict(data, request_type, what=request_type.__name__)
            result = await func(request)
            reply = encode(RpcReply(ok=True, result=result))
            if len(reply) > bus.max_payload:
                logger.warning("rpc %s: an answer of %d bytes is too large", subject, len(reply))
                return _answer_too_large(subject, len(reply), bus.max_payload)
            return reply
        except ContractError as exc:
            return encode(RpcReply(ok=False, error=exc.body))
        except RpcError as exc:
            return encode(RpcReply(ok=False, error=exc.body))
        except _DATABASE_TROUBLE:
            # e.g. a pooled connection Postgres dropped in a restart: the pool discards it,
            # so the caller's retry gets a fresh one
            logger.warning("rpc %s: database unavailable", subject, exc_info=True)
            return encode(
                RpcReply(
                    ok=False,
                    error=ErrorBody(
                        code=ErrorCode.UNAVAILABLE, message="the database is unavailable; retry"
                    ),
                )
            )
        except Exception:
            logger.exception("rpc %s failed", subject)
            return encode(
                RpcReply(
                    ok=False,
                    error=ErrorBody(code=ErrorCode.INTERNAL, message=f"{subject} failed"),
                )
            )

    bus.serve(subject, handle, max_workers=max_workers)


async def call(
    bus: Bus, subject: str, request: Any, result_type: type[Res], *, timeout: float = 10.0
) -> Res:
    """Call a remote operation; return its typed result or raise :class:`RpcError`.

    A request larger than :func:`request_limit` is not sent: it fails ``too_large`` naming
    ``body`` (the NATS server would refuse it, or what is stored from it, anyway).

    "No responders" is retried for up to :data:`NO_RESPONDERS_GRACE_SECONDS` (or ``timeout``):
    while a service restarts (rolling deploy, supervisor restart) its subject briefly has no
    subscriber, and a caller should see that as a short delay, not an error.
    """
    body = encode(request)
    limit = request_limit(bus)
    if len(body) > limit:
        raise _request_too_large(subject, len(body), limit)
    loop = asyncio.get_running_loop()
    give_up = loop.time() + min(timeout, NO_RESPONDERS_GRACE_SECONDS)
    try:
        while True:
            try:
                raw = await bus.request(subject, body, timeout=timeout)
                break
            except nats.errors.NoRespondersError as exc:
                if loop.time() + _NO_RESPONDERS_BACKOFF > give_up:
                    raise RpcError(
                        ErrorBody(
                            code=ErrorCode.UNAVAILABLE, message=f"no service answers {subject}"
                        )
                    ) from exc
                await asyncio.sleep(_NO_RESPONDERS_BACKOFF)
    except nats.errors.MaxPayloadError as exc:  # the server's limit changed since the check
        raise _request_too_large(subject, len(body), bus.max_payload) from exc
    except nats.errors.TimeoutError as exc:
        raise RpcError(
            ErrorBody(code=ErrorCode.TIMEOUT, message=f"{subject} did not answer in time")
        ) from exc
    reply = msgspec.json.decode(raw, type=RpcReply)
    if not reply.ok:
        raise RpcError(reply.error or ErrorBody(code=ErrorCode.INTERNAL, message="unknown error"))
    return msgspec.convert(reply.result, result_type)
