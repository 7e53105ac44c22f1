"""The shared error envelope over HTTP: status mapping and exception handlers."""

from __future__ import annotations

import logging
import re
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import ExceptionHandlersMap

from llmctl_contracts import ContractError, ErrorBody, ErrorCode, ErrorEnvelope, FieldError
from llmctl_libs.rpc import RpcError

from .context import request_ids

__all__ = [
    "EXCEPTION_HANDLERS",
    "MAX_REQUEST_BODY_BYTES",
    "STATUS_BY_CODE",
    "error_response",
    "handle_contract_error",
    "handle_http_exception",
    "handle_rpc_error",
    "handle_unexpected",
]

logger = logging.getLogger(__name__)

MAX_REQUEST_BODY_BYTES = 10_000_000
"""Largest request body the gateway reads (a larger one is refused ``too_large`` at once);
what reaches a backend is held to the bus's limit as well (``llmctl_libs.rpc.request_limit``)."""

STATUS_BY_CODE: dict[ErrorCode, int] = {
    ErrorCode.VALIDATION_FAILED: 422,
    ErrorCode.MALFORMED: 400,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.CONFLICT: 409,
    ErrorCode.IDEMPOTENCY_MISMATCH: 422,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.UNKNOWN_VERSION: 422,
    ErrorCode.TOO_LARGE: 413,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.TIMEOUT: 504,
    ErrorCode.INTERNAL: 500,
}
"""HTTP status of each error code."""


def _code_for_status(status: int) -> ErrorCode:
    if status == 404:
        return ErrorCode.NOT_FOUND
    if status == 409:
        return ErrorCode.CONFLICT
    if status == 422:
        return ErrorCode.VALIDATION_FAILED
    if status == 503:
        return ErrorCode.UNAVAILABLE
    if status == 504:
        return ErrorCode.TIMEOUT
    if status >= 500:
        return ErrorCode.INTERNAL
    return ErrorCode.MALFORMED


def error_response(
    request: Request[Any, Any, Any], body: ErrorBody, *, status: int | None = None
) -> Response[ErrorEnvelope]:
    """The error envelope for ``body``, stamped with this request's ids.

    Args:
        request: The request being answered.
        body: The error; its ``request_id`` is replaced by this request's.
        status: HTTP status; by default the one :data:`STATUS_BY_CODE` gives the code.

    Returns:
        A JSON response ``{ok: false, error, correlation_id}``.
    """
    ids = request_ids(request.scope)
    stamped = msgspec.structs.replace(body, request_id=ids.request_id)
    return Response(
        content=ErrorEnvelope(error=stamped, correlation_id=ids.correlation_id),
        status_code=status or STATUS_BY_CODE.get(body.code, 500),
        media_type="application/json",
    )


def handle_contract_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """A request body or parameter broke its contract (400/422 naming the field)."""
    assert isinstance(exc, ContractError)
    return error_response(request, exc.body)


def handle_rpc_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """A backend service answered with an error, or did not answer."""
    assert isinstance(exc, RpcError)
    return error_response(request, exc.body)


_ROOT_FIELD = re.compile(r"Object (missing required|contains unknown) field `([^`]+)`")


def _header_name(key: str) -> str:
    """``idempotency_key`` -> ``Idempotency-Key`` (handler arguments name headers in snake)."""
    return "-".join(part.capitalize() for part in key.split("_"))


def _field_name(key: str, source: Any) -> str:
    """``query.page_size``, ``path.version``, ``header.Idempotency-Key``, ``body.name``."""
    kind = str(getattr(source, "value", source or ""))
    if kind == "header":
        return f"header.{_header_name(key)}"
    return f"{kind}.{key}" if kind else key


def _validation_details(exc: ValidationException) -> list[FieldError]:
    details: list[FieldError] = []
    extra = exc.extra if isinstance(exc.extra, list) else []
    for item in extra:
        if isinstance(item, dict):
            source = item.get("source")
            kind = str(getattr(source, "value", source or ""))
            key = str(item.get("key") or "$")
            field = _field_name(key, source)
            reason = str(item.get("message", "invalid"))
            root = _ROOT_FIELD.fullmatch(reason)
            if kind == "body" and key == "data" and root:
                # a decoded body's top-level field problem: name the field itself
                field = f"body.{root.group(2)}"
                missing = root.group(1) == "missing required"
                reason = "required field is missing" if missing else "unknown field"
            details.append(FieldError(field=field, reason=reason))
    return details


def handle_http_exception(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Litestar's own errors (404, 405, parameter validation, ...) in the shared envelope."""
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    if isinstance(exc, ValidationException):
        details = _validation_details(exc)
        if details:
            body = ErrorBody(
                code=ErrorCode.VALIDATION_FAILED,
                message=f"invalid request: {details[0].field}: {details[0].reason}",
                details=details,
            )
            return error_response(request, body, status=422)
    if status == 413:  # over the server's request body limit (before any backend sees it)
        reason = f"is larger than the gateway accepts ({MAX_REQUEST_BODY_BYTES:,} bytes)"
        return error_response(
            request,
            ErrorBody.for_field(ErrorCode.TOO_LARGE, "body", reason),
            status=413,
        )
    if status >= 500:
        logger.error("http error %s on %s: %s", status, request.url.path, exc.detail)
        message = "internal error"
    else:
        message = str(exc.detail or "request failed")
    response = error_response(
        request, ErrorBody(code=_code_for_status(status), message=message), status=status
    )
    if exc.headers:
        response.headers.update(exc.headers)
    return response


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Anything else: log it, answer 500 ``internal`` without leaking details."""
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(
        request, ErrorBody(code=ErrorCode.INTERNAL, message="internal error"), status=500
    )


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    ContractError: handle_contract_error,
    RpcError: handle_rpc_error,
    HTTPException: handle_http_exception,
    Exception: handle_unexpected,
}
"""Exception handlers to install on the app."""
