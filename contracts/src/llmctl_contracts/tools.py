"""Tool call wire contracts: request, result, audit record, registry listing.

Served on ``subjects.tool_call(service)`` / ``subjects.tool_list(service)`` (request/reply).
A call's status is ``success``, ``success_with_warning`` (the tool answered but warns, or used a
fallback: ``fallback_used``) or ``error`` (with an ``ErrorBody``).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import msgspec

from .errors import ErrorBody

__all__ = [
    "ListTools",
    "ToolCallRecord",
    "ToolCallRequest",
    "ToolCallResult",
    "ToolCaller",
    "ToolDescriptor",
    "ToolJournalRequest",
    "ToolStatus",
]

ToolName = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{0,63}(?!\n)$")]


class ToolStatus(StrEnum):
    """Outcome of one tool call."""

    SUCCESS = "success"
    SUCCESS_WITH_WARNING = "success_with_warning"
    ERROR = "error"


class ToolCaller(StrEnum):
    """Who called: a node run (through its invoker), an MCP client, or any other program."""

    NODE = "node"
    MCP = "mcp"
    API = "api"


class ToolCallRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Invoke one tool.

    Attributes:
        tool: Registered tool name.
        arguments: The tool's input; validated against its input schema.
        version: Tool version; ``None`` means the latest registered version.
        idempotency_key: A repeated key replays the recorded result (no second effect). For a
            node run it is ``"<node_run_id>:<call_index>"``; other callers choose their own.
        caller: Who is calling.
        run_id: The run the call belongs to, if any.
        node_run_id: The node run the call belongs to, if any.
        call_index: Position of the call within its node run (0, 1, ...).
        allowed_tools: The node's tool allowlist. ``None``: no allowlist applies (callers that
            are not a node run). A list, even empty, is enforced: a tool not in it is refused
            with ``forbidden`` (an empty list allows nothing).
        request_id: Request id for tracing.
        correlation_id: Correlation id of the originating request.
    """

    tool: str
    arguments: dict[str, Any] = msgspec.field(default_factory=dict)
    version: Annotated[int, msgspec.Meta(ge=1)] | None = None
    idempotency_key: Annotated[str, msgspec.Meta(min_length=1, max_length=400)] | None = None
    caller: ToolCaller = ToolCaller.API
    run_id: str | None = None
    node_run_id: str | None = None
    call_index: Annotated[int, msgspec.Meta(ge=0)] | None = None
    allowed_tools: list[str] | None = None
    request_id: str | None = None
    correlation_id: str | None = None


class ToolCallResult(msgspec.Struct, frozen=True, kw_only=True):
    """The answer to a :class:`ToolCallRequest` (also what a replay returns).

    Attributes:
        call_id: Id of the audit record of this call.
        tool: Tool name.
        version: Tool version that ran (0 when the tool is unknown).
        status: ``success``, ``success_with_warning`` or ``error``.
        output: The tool's output (validated against its output schema) unless ``error``.
        error: What went wrong, when ``status`` is ``error``.
        fallback_used: The tool answered through its fallback path (status then carries a
            warning).
        warnings: Human-readable warnings.
        attempts: Handler attempts made (retries included); 0 when refused before running.
        replayed: The result was recorded by an earlier call with the same idempotency key.
        request_id: The request id of the call.
        correlation_id: The correlation id of the call.
    """

    call_id: str
    tool: str
    version: int
    status: ToolStatus
    output: dict[str, Any] | None = None
    error: ErrorBody | None = None
    fallback_used: bool = False
    warnings: list[str] = msgspec.field(default_factory=list)
    attempts: int = 0
    replayed: bool = False
    request_id: str | None = None
    correlation_id: str | None = None


class ToolCallRecord(msgspec.Struct, frozen=True, kw_only=True):
    """The trace/audit record of one call (one per call, replays and refusals included).

    Attributes:
        call_id: Record id (UUIDv7).
        tool: Tool name as requested.
        version: Tool version that ran (0 when unknown).
        caller: Who called.
        status: Call status.
        idempotency_key: The call's key, if any.
        run_id: Run, if any.
        node_run_id: Node run, if any.
        call_index: Index within the node run, if any.
        request_id: Request id.
        correlation_id: Correlation id.
        arguments: Arguments as sent.
        output: Output, unless the call failed.
        error: Error, if the call failed.
        fallback_used: Whether the fallback path answered.
        warnings: Warnings.
        attempts: Handler attempts.
        replayed: Whether the result was replayed from an earlier call.
        started_at: ISO 8601 start time.
        finished_at: ISO 8601 end time.
        duration_ms: Wall time of the call in milliseconds.
    """

    call_id: str
    tool: str
    version: int
    caller: ToolCaller
    status: ToolStatus
    started_at: str
    finished_at: str
    duration_ms: float
    idempotency_key: str | None = None
    run_id: str | None = None
    node_run_id: str | None = None
    call_index: int | None = None
    request_id: str | None = None
    correlation_id: str | None = None
    arguments: dict[str, Any] = msgspec.field(default_factory=dict)
    output: dict[str, Any] | None = None
    error: ErrorBody | None = None
    fallback_used: bool = False
    warnings: list[str] = msgspec.field(default_factory=list)
    attempts: int = 0
    replayed: bool = False


class ToolDescriptor(msgspec.Struct, frozen=True, kw_only=True):
    """A registered tool as listed by its registry.

    Attributes:
        name: Tool name (``[a-z][a-z0-9_]*``, valid for every provider's function names).
        version: Tool version.
        domain: Tool domain (``observability``, ``workflow_control``, ...).
        description: What the tool does, for models and people.
        input_schema: JSON Schema of the arguments.
        output_schema: JSON Schema of the output.
        writes: Whether the tool changes state (its calls are deduplicated by key).
        timeout_seconds: Per-attempt timeout.
        max_attempts: Attempts on a retryable failure (``timeout``/``unavailable``).
    """

    name: ToolName
    version: int
    domain: str
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]
    writes: bool
    timeout_seconds: float
    max_attempts: int


class ListTools(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """List a service's tools (``domain``: only that domain; latest versions only unless
    ``all_versions``)."""

    domain: str | None = None
    all_versions: bool = False


class ToolJournalRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Read the calls one node-run attempt has made so far (answered with
    ``list[ToolCallRecord]``: per call index, the latest record that ran or was refused, not
    replays, in index order).

    A task node's agent loop that is executed again (its command redelivered after a crash)
    rebuilds its conversation from this journal and goes on from the next call index, so no
    call is made twice and the model does not start over.

    Attributes:
        node_run_id: The node run.
        attempt: The attempt (its calls' keys are ``"<node_run_id>:<attempt>:<index>"``).
    """

    node_run_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    attempt: Annotated[int, msgspec.Meta(ge=1)]
