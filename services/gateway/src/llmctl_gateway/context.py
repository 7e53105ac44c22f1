"""Per-request ids: ``X-Request-ID`` and ``X-Correlation-ID``, echoed or generated."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from litestar.datastructures import Headers

from llmctl_libs.ids import new_id

__all__ = [
    "CORRELATION_ID_HEADER",
    "REQUEST_ID_HEADER",
    "RequestIds",
    "add_id_headers",
    "request_ids",
]

REQUEST_ID_HEADER = "x-request-id"
CORRELATION_ID_HEADER = "x-correlation-id"
_STATE_KEY = "llmctl_request_ids"
_ACCEPTABLE = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


@dataclass(frozen=True, slots=True)
class RequestIds:
    """The ids of one HTTP exchange.

    Attributes:
        request_id: The client's ``X-Request-ID`` if acceptable, else a new UUIDv7.
        correlation_id: The client's ``X-Correlation-ID`` if acceptable, else ``request_id``.
    """

    request_id: str
    correlation_id: str


def _acceptable(value: str | None) -> str | None:
    if value is not None and _ACCEPTABLE.fullmatch(value):
        return value
    return None


def request_ids(scope: Any) -> RequestIds:
    """The ids of the exchange ``scope`` belongs to, computed once and cached in the scope.

    Args:
        scope: The ASGI scope (a mapping with ``headers`` and ``state``).

    Returns:
        The same :class:`RequestIds` for every call on one scope.
    """
    state: dict[str, Any] = scope.setdefault("state", {})
    cached = state.get(_STATE_KEY)
    if isinstance(cached, RequestIds):
        return cached
    headers = Headers.from_scope(scope)
    request_id = _acceptable(headers.get(REQUEST_ID_HEADER)) or new_id()
    correlation_id = _acceptable(headers.get(CORRELATION_ID_HEADER)) or request_id
    ids = RequestIds(request_id=request_id, correlation_id=correlation_id)
    state[_STATE_KEY] = ids
    return ids


_STAMPED = frozenset({"http.response.start", "websocket.accept", "websocket.http.response.start"})


async def add_id_headers(message: Any, scope: Any) -> None:
    """``before_send`` hook: stamp both id headers on every HTTP response (errors included),
    websocket handshake and refused handshake."""
    if message.get("type") not in _STAMPED:
        return
    ids = request_ids(scope)
    names = {REQUEST_ID_HEADER.encode(), CORRELATION_ID_HEADER.encode()}
    headers = [(k, v) for k, v in message.get("headers", []) if bytes(k).lower() not in names]
    headers.append((REQUEST_ID_HEADER.encode(), ids.request_id.encode()))
    headers.append((CORRELATION_ID_HEADER.encode(), ids.correlation_id.encode()))
    message["headers"] = headers
