"""The models service's errors, in the shared envelope."""

from __future__ import annotations

from llmctl_contracts import ErrorBody, ErrorCode, FieldError
from llmctl_libs.rpc import RpcError

__all__ = ["conflict", "invalid", "not_found"]


def not_found(what: str, ident: str, field: str = "id") -> RpcError:
    """``not_found`` for one entity."""
    return RpcError(
        ErrorBody.for_field(
            ErrorCode.NOT_FOUND,
            field,
            f"no {what} with this {field.lstrip('$.')}",
            message=f"{what} {ident!r} not found",
        )
    )


def conflict(field: str, reason: str) -> RpcError:
    """``conflict`` naming the field."""
    return RpcError(ErrorBody.for_field(ErrorCode.CONFLICT, field, reason))


def invalid(what: str, details: list[FieldError]) -> RpcError:
    """``validation_failed`` with every field problem; the message names the first."""
    first = details[0]
    return RpcError(
        ErrorBody(
            code=ErrorCode.VALIDATION_FAILED,
            message=f"invalid {what}: {first.field}: {first.reason}",
            details=details,
        )
    )
