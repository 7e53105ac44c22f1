"""A tool: its name, version, typed input/output, handler and call policy."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from llmctl_contracts import ErrorBody, ErrorCode
from llmctl_contracts.tools import ToolCaller

__all__ = ["RETRYABLE_CODES", "ToolContext", "ToolError", "ToolHandler", "ToolSpec"]

In = TypeVar("In", bound=msgspec.Struct)
Out = TypeVar("Out", bound=msgspec.Struct)

RETRYABLE_CODES = frozenset({ErrorCode.TIMEOUT, ErrorCode.UNAVAILABLE})
"""Error codes a call is retried on (up to the tool's ``max_attempts``); they are never
recorded for replay, so a repeated call runs again."""


class ToolError(Exception):
    """A tool refused or failed; ``body`` is the shared error envelope's body."""

    def __init__(self, body: ErrorBody) -> None:
        super().__init__(body.message)
        self.body = body


@dataclass(slots=True)
class ToolContext:
    """Call metadata handed to a handler, and where it reports warnings.

    Attributes:
        call_id: The call's audit record id.
        tool: Tool name.
        version: Tool version.
        caller: Who called.
        attempt: 1 for the first attempt, 2 for the first retry, ...
        idempotency_key: The call's key (derived operations key their own requests on it).
        run_id: The run, if any.
        node_run_id: The node run, if any.
        call_index: The call's index within its node run, if any.
        request_id: Request id.
        correlation_id: Correlation id.
        conn: For runtimes with a database: the open transaction that also records the call,
            so a write's effect and its idempotency record commit together (each attempt runs
            in a savepoint). ``None`` for runtimes without a database.
        warnings: Warnings reported so far (use :meth:`warn`).
        fallback_used: Set by :meth:`use_fallback`.
    """

    call_id: str
    tool: str
    version: int
    caller: ToolCaller
    attempt: int = 1
    idempotency_key: str | None = None
    run_id: str | None = None
    node_run_id: str | None = None
    call_index: int | None = None
    request_id: str | None = None
    correlation_id: str | None = None
    conn: AsyncConnection | None = None
    warnings: list[str] = field(default_factory=list)
    fallback_used: bool = False

    @property
    def operation_key(self) -> str:
        """A stable key for requests this call makes elsewhere: derived from the idempotency
        key when there is one (a retried or replayed call reuses it), else the call id."""
        return f"tool:{self.idempotency_key}" if self.idempotency_key else f"tool:{self.call_id}"

    def warn(self, message: str) -> None:
        """Report a warning (the call's status becomes ``success_with_warning``)."""
        self.warnings.append(message)

    def use_fallback(self, reason: str) -> None:
        """Mark the answer as coming from a fallback path, with the reason as a warning."""
        self.fallback_used = True
        self.warn(reason)

    def require_conn(self) -> AsyncConnection:
        """The call's transaction; an internal error for runtimes without a database."""
        if self.conn is None:
            raise ToolError(
                ErrorBody(code=ErrorCode.INTERNAL, message=f"{self.tool} needs a database")
            )
        return self.conn


ToolHandler = Callable[[ToolContext, In], Awaitable[Out]]
"""``async (ctx, args) -> output``: raise :class:`ToolError` to fail the call."""


@dataclass(frozen=True, slots=True)
class ToolSpec(Generic[In, Out]):
    """One registered tool.

    Attributes:
        name: Tool name (``[a-z][a-z0-9_]*``, at most 64 characters).
        version: Version; bump it on a breaking change of input or output.
        domain: Domain it belongs to (``observability``, ``workflow_control``, ...).
        description: What it does, written for a model choosing a tool.
        input_type: msgspec Struct of the arguments (its JSON Schema is the input schema).
        output_type: msgspec Struct of the output.
        handler: ``async (ctx, args) -> output``.
        writes: Changes state (documentation and audit; dedupe applies to every keyed call).
        timeout_seconds: Per-attempt timeout.
        max_attempts: Attempts on ``timeout``/``unavailable`` failures.
        retry_backoff_seconds: Pause before each retry.
    """

    name: str
    version: int
    domain: str
    description: str
    input_type: type[In]
    output_type: type[Out]
    handler: ToolHandler[In, Out]
    writes: bool = False
    timeout_seconds: float = 10.0
    max_attempts: int = 1
    retry_backoff_seconds: float = 0.1

    def decode_arguments(self, arguments: dict[str, Any]) -> In:
        """The arguments as ``input_type``; raises ``msgspec.ValidationError``."""
        return msgspec.convert(arguments, self.input_type, strict=True)
