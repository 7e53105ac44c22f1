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

__all__ = ["NO_RESPONDERS_GRACE_SECONDS", "RpcError", "call", "endpoint"]

logger = logging.getLogger(__name__)

NO_RESPONDERS_GRACE_SECONDS = 1.0
_NO_RESPONDERS_BACKOFF = 0.05

_DATABASE_TROUBLE = (psycopg.OperationalError, sqlalchemy.exc.OperationalError)
"""Connection loss, an administrator shutdown, a cancelled statement: a retry may succeed."""

Req = TypeVar("Req")
Res = TypeVar("Res")


class RpcError(Exception):
    """A remote operation answered with an error (or did not answer)."""

    def __init__(self, body: ErrorBody) -> None:
        super().__init__(body.message)
        self.body = body


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
    connection was lost, Postgres restarted) as ``unavailable``; anything else ``internal``.

    ``max_workers`` requests are handled at once; raise it only for a ``func`` that holds at
    most one pooled database connection at a time (see :mod:`llmctl_libs.request_server`).
    """

    async def handle(data: bytes) -> bytes:
        try:
            request = decode_strict(data, request_type, what=request_type.__name__)
            result = await func(request)
            return encode(RpcReply(ok=True, result=result))
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

    "No responders" is retried for up to :data:`NO_RESPONDERS_GRACE_SECONDS` (or ``timeout``):
    while a service restarts (rolling deploy, supervisor restart) its subject briefly has no
    subscriber, and a caller should see that as a short delay, not an error.
    """
    body = encode(request)
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
    except nats.errors.TimeoutError as exc:
        raise RpcError(
            ErrorBody(code=ErrorCode.TIMEOUT, message=f"{subject} did not answer in time")
        ) from exc
    reply = msgspec.json.decode(raw, type=RpcReply)
    if not reply.ok:
        raise RpcError(reply.error or ErrorBody(code=ErrorCode.INTERNAL, message="unknown error"))
    return msgspec.convert(reply.result, result_type)
