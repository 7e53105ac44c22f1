"""Pure encode/decode of envelopes with precise, field-naming errors."""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec

from .envelope import Envelope
from .errors import ErrorBody, ErrorCode, FieldError
from .registry import payload_type

__all__ = [
    "ContractError",
    "decode_envelope",
    "decode_payload",
    "decode_strict",
    "encode",
    "field_error_from_msgspec",
]

T = TypeVar("T")

_ENCODER = msgspec.json.Encoder()
_MISSING_FIELD = re.compile(r"Object missing required field `([^`]+)`")


class ContractError(Exception):
    """A message or document does not satisfy its contract.

    Attributes:
        body: The error in the shared envelope's shape.
    """

    def __init__(self, body: ErrorBody) -> None:
        super().__init__(body.message)
        self.body = body


def encode(value: Any) -> bytes:
    """Encode any contract value as JSON bytes."""
    return _ENCODER.encode(value)


def field_error_from_msgspec(exc: msgspec.ValidationError | msgspec.DecodeError) -> FieldError:
    """Turn msgspec's ``... - at `$.a.b``` message into a ``FieldError``."""
    text = str(exc)
    reason, sep, where = text.rpartition(" - at `")
    field = where.rstrip("`") if sep else "$"
    if not sep:
        reason = text
    missing = _MISSING_FIELD.fullmatch(reason)
    if missing:
        field = f"{field}.{missing.group(1)}"
        reason = "required field is missing"
    return FieldError(field=field, reason=reason)


def decode_strict(data: bytes | str, type_: type[T], *, what: str) -> T:
    """Decode ``data`` as ``type_`` or raise ``ContractError`` naming the bad field."""
    try:
        return msgspec.json.decode(data, type=type_)
    except msgspec.ValidationError as exc:
        detail = field_error_from_msgspec(exc)
        raise ContractError(
            ErrorBody(
                code=ErrorCode.VALIDATION_FAILED,
                message=f"invalid {what}: {detail.field}: {detail.reason}",
                details=[detail],
            )
        ) from exc
    except msgspec.DecodeError as exc:
        raise ContractError(
            ErrorBody.for_field(
                ErrorCode.MALFORMED, "$", str(exc), message=f"malformed {what}: {exc}"
            )
        ) from exc


def decode_envelope(data: bytes) -> Envelope:
    """Decode an envelope (not its payload)."""
    return decode_strict(data, Envelope, what="envelope")


def decode_payload(envelope: Envelope, expected: type[T] | None = None) -> T:
    """Decode the payload against the type registered for the envelope's type and version.

    Raises:
        ContractError: unknown (type, version) (code ``unknown_version``), or a payload that
            does not validate; field paths are prefixed with ``$.payload``.
    """
    registered = payload_type(envelope.type, envelope.version)
    if registered is None:
        raise ContractError(
            ErrorBody.for_field(
                ErrorCode.UNKNOWN_VERSION,
                "$.version",
                "no such type/version",
                message=f"unknown message type {envelope.type!r} version {envelope.version}",
            )
        )
    if expected is not None and registered is not expected:
        raise ContractError(
            ErrorBody.for_field(
                ErrorCode.VALIDATION_FAILED,
                "$.type",
                f"expected {expected.__name__}",
                message=f"unexpected message type {envelope.type!r} here",
            )
        )
    try:
        return msgspec.json.decode(envelope.payload, type=registered)  # type: ignore[return-value]
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        detail = field_error_from_msgspec(exc)
        field = "$.payload" + detail.field.removeprefix("$")
        raise ContractError(
            ErrorBody.for_field(
                ErrorCode.VALIDATION_FAILED,
                field,
                detail.reason,
                message=f"invalid {envelope.type} payload: {field}: {detail.reason}",
            )
        ) from exc
