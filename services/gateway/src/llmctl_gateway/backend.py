"""Typed calls to backend services; every failure becomes an :class:`RpcError`."""

from __future__ import annotations

import logging
from typing import Any, TypeVar

import msgspec

from llmctl_contracts import ErrorBody, ErrorCode, subjects
from llmctl_libs.bus import Bus
from llmctl_libs.rpc import RpcError, call

__all__ = ["ORCHESTRATOR", "rpc_call"]

logger = logging.getLogger(__name__)

ORCHESTRATOR = "orchestrator"
"""Service that owns flowcharts and runs."""

Res = TypeVar("Res")


async def rpc_call(
    bus: Bus | None,
    service: str,
    operation: str,
    request: Any,
    result_type: type[Res],
    *,
    timeout: float,
) -> Res:
    """Call ``operation`` of ``service`` and return its typed result.

    Args:
        bus: A started bus, or ``None`` (answered as ``unavailable``).
        service: Service name, e.g. ``orchestrator``.
        operation: Operation name, e.g. ``run.get``.
        request: The request Struct (or ``{}``).
        result_type: Type the result is converted to.
        timeout: Seconds to wait for the reply.

    Raises:
        RpcError: The service answered an error (its body is passed on), nobody answers
            (``unavailable``), it did not answer in time (``timeout``), the bus is down
            (``unavailable``) or the reply broke its contract (``internal``).
    """
    subject = subjects.rpc(service, operation)
    if bus is None:
        raise RpcError(ErrorBody(code=ErrorCode.UNAVAILABLE, message="message bus not connected"))
    try:
        return await call(bus, subject, request, result_type, timeout=timeout)
    except RpcError:
        raise
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        logger.error("%s answered a reply that breaks its contract: %s", subject, exc)
        raise RpcError(
            ErrorBody(code=ErrorCode.INTERNAL, message=f"{service} sent an invalid reply")
        ) from exc
    except Exception as exc:
        logger.warning("%s could not be reached: %r", subject, exc)
        raise RpcError(
            ErrorBody(code=ErrorCode.UNAVAILABLE, message=f"{service} is unreachable")
        ) from exc
