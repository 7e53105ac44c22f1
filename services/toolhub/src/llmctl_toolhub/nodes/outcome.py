"""What a special-node handler returns or raises."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from llmctl_contracts import ErrorBody, ErrorCode

__all__ = ["NodeInputError", "NodeOutcome", "conflicting_state"]


@dataclass(slots=True)
class NodeOutcome:
    """A handler's result: the node output (with ``artifact``) and warnings."""

    output: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


class NodeInputError(Exception):
    """The node's config or input cannot be executed (no fallback applies: fix the input).

    Attributes:
        body: The error in the shared envelope's shape.
    """

    def __init__(self, body: ErrorBody) -> None:
        super().__init__(body.message)
        self.body = body

    @classmethod
    def field(cls, field: str, reason: str) -> NodeInputError:
        """One bad config/input field."""
        return cls(ErrorBody.for_field(ErrorCode.VALIDATION_FAILED, field, reason))


def conflicting_state(message: str, field: str) -> ErrorBody:
    """A tool result conflicts with what the node was asked to do."""
    return ErrorBody.for_field(ErrorCode.CONFLICT, field, message, message=message)
