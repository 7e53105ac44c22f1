"""Text search helpers shared by the services' list queries."""

from __future__ import annotations

from llmctl_contracts import ErrorBody, ErrorCode

from ..rpc import RpcError

__all__ = ["like_pattern"]


def like_pattern(text: str, *, field: str = "q") -> str:
    """A ``LIKE``/``ILIKE`` pattern (escape ``\\``) matching ``text`` anywhere, its own ``%``,
    ``_`` and ``\\`` taken literally.

    Raises:
        RpcError: ``validation_failed`` naming ``field`` when ``text`` holds a NUL character,
            which Postgres text cannot contain (it would otherwise fail the query).
    """
    if "\x00" in text:
        reason = "must not contain NUL characters"
        raise RpcError(ErrorBody.for_field(ErrorCode.VALIDATION_FAILED, field, reason))
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
