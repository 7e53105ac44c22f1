"""llmctl wire contracts: types, schemas and subject names only; no I/O."""

from .codec import ContractError, decode_envelope, decode_payload, decode_strict, encode
from .envelope import Envelope, MessageKind
from .errors import ErrorBody, ErrorCode, ErrorEnvelope, FieldError
from .registry import MessageType, payload_type, socket_event_name
from .routing import ConnectorEvaluation, RoutingState
from .statuses import NodeRunStatus, RunStatus

__all__ = [
    "ConnectorEvaluation",
    "ContractError",
    "Envelope",
    "ErrorBody",
    "ErrorCode",
    "ErrorEnvelope",
    "FieldError",
    "MessageKind",
    "MessageType",
    "NodeRunStatus",
    "RoutingState",
    "RunStatus",
    "decode_envelope",
    "decode_payload",
    "decode_strict",
    "encode",
    "payload_type",
    "socket_event_name",
]
