"""The one error envelope used across HTTP, websockets and request/reply."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

import msgspec

__all__ = ["ErrorBody", "ErrorCode", "ErrorEnvelope", "FieldError"]


class ErrorCode(StrEnum):
    """Machine-readable error codes."""

    VALIDATION_FAILED = "validation_failed"
    MALFORMED = "malformed"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    IDEMPOTENCY_MISMATCH = "idempotency_mismatch"
    """An ``Idempotency-Key`` was reused with a different request body (HTTP 422)."""
    FORBIDDEN = "forbidden"
    """The caller may not do this (e.g. a tool outside the node's tool allowlist; HTTP 403)."""
    UNKNOWN_VERSION = "unknown_version"
    TOO_LARGE = "too_large"
    """A request, or the answer to it, is larger than the message bus carries (HTTP 413)."""
    UNAVAILABLE = "unavailable"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    INTERNAL = "internal"


class FieldError(msgspec.Struct, frozen=True, kw_only=True):
    """One problem with one field.

    Attributes:
        field: JSONPath-like location of the field, e.g. ``$.nodes[2].id``.
        reason: Why it is wrong, in words a user can act on.
    """

    field: str
    reason: str


class ErrorBody(msgspec.Struct, frozen=True, kw_only=True):
    """Error detail: code, human message, field-level details, request id."""

    code: ErrorCode
    message: str
    details: list[FieldError] = msgspec.field(default_factory=list)
    request_id: str | None = None

    @classmethod
    def for_field(
        cls, code: ErrorCode, field: str, reason: str, *, message: str | None = None
    ) -> ErrorBody:
        """An error about one field: ``details`` names it with ``reason``; the message is
        ``"<field>: <reason>"`` unless given."""
        return cls(
            code=code,
            message=f"{field}: {reason}" if message is None else message,
            details=[FieldError(field=field, reason=reason)],
        )


class ErrorEnvelope(msgspec.Struct, frozen=True, kw_only=True):
    """``{ok: false, error: {...}, correlation_id}``."""

    error: ErrorBody
    correlation_id: str | None = None
    ok: Literal[False] = False
