"""Calls from the gateway to the models service, errors renamed to where the client sent
the field (``$.x`` of a body becomes ``body.x``)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request

from llmctl_contracts import ErrorBody, ErrorCode, FieldError
from llmctl_libs.rpc import RpcError

from .routes import _backend

__all__ = ["MODELS", "models_call"]

MODELS = "models"
"""Service that owns providers, models and runtime settings."""


async def models_call(
    request: Request[Any, Any, Any],
    operation: str,
    body: Any,
    result_type: type[Any],
    *,
    fields: dict[str, str] | None = None,
) -> Any:
    """Call ``operation`` of the models service.

    Args:
        request: The HTTP request (its app holds the bus and settings).
        operation: e.g. ``model.create``.
        body: The request Struct.
        result_type: Type the result is converted to.
        fields: Error fields to rename (``$.x`` of the body becomes ``body.x`` anyway).

    Raises:
        RpcError: The service's error with fields named as the client sent them.
    """
    try:
        return await _backend(request, MODELS, operation, body, result_type)
    except RpcError as exc:
        raise RpcError(_renamed(exc.body, fields or {})) from exc


def _renamed(body: ErrorBody, fields: dict[str, str]) -> ErrorBody:
    def rename(field: str) -> str:
        if field in fields:
            return fields[field]
        return "body." + field[2:] if field.startswith("$.") else field

    if not body.details:
        return body
    details = [FieldError(field=rename(d.field), reason=d.reason) for d in body.details]
    first = details[0]
    message = body.message
    if body.code is ErrorCode.VALIDATION_FAILED or body.code is ErrorCode.CONFLICT:
        message = f"{first.field}: {first.reason}"
    return msgspec.structs.replace(body, details=details, message=message)
