"""The one exception every domain operation raises, carrying the shared error body."""

from __future__ import annotations

from llmctl_contracts import ErrorBody, ErrorCode

__all__ = ["DomainError", "conflict", "invalid", "not_found"]


class DomainError(Exception):
    """A domain operation refused its input or found conflicting state.

    Attributes:
        body: The error in the shared envelope's shape (``not_found``, ``conflict`` or
            ``validation_failed`` with field details).
    """

    def __init__(self, body: ErrorBody) -> None:
        super().__init__(body.message)
        self.body = body


def not_found(what: str, entity_id: str, field: str = "id") -> DomainError:
    """``what`` ``entity_id`` does not exist."""
    message = f"{what} {entity_id!r} not found"
    return DomainError(ErrorBody.for_field(ErrorCode.NOT_FOUND, field, message, message=message))


def conflict(message: str, field: str) -> DomainError:
    """The stored state conflicts with the request (stale version, already decided, ...)."""
    return DomainError(ErrorBody.for_field(ErrorCode.CONFLICT, field, message, message=message))


def invalid(field: str, reason: str) -> DomainError:
    """One input field is wrong."""
    return DomainError(ErrorBody.for_field(ErrorCode.VALIDATION_FAILED, field, reason))
