"""What toolhub's tool handlers need: the bus to reach peers, and the call records."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec

from llmctl_contracts import ErrorBody, ErrorCode, FieldError, subjects
from llmctl_libs.bus import Bus
from llmctl_libs.rpc import RpcError, call
from llmctl_libs.tools import ToolCallStore, ToolError

__all__ = ["RPC_TIMEOUT_SECONDS", "ToolDeps", "not_found"]

T = TypeVar("T")

RPC_TIMEOUT_SECONDS = 8.0
"""Wait for a peer's answer; below the tools' 10 s timeout so the peer's silence is reported
as such (``timeout`` naming the peer's subject) rather than as the tool's own timeout."""


@dataclass(frozen=True, slots=True)
class ToolDeps:
    """Dependencies of toolhub's tools.

    Attributes:
        bus: Toolhub's bus (request/reply to the orchestrator and the router).
        calls: Toolhub's tool call records.
    """

    bus: Bus
    calls: ToolCallStore

    async def orchestrator(
        self, operation: str, request: Any, result_type: type[T], *, id_field: str = "run_id"
    ) -> T:
        """Call an orchestrator operation (``RpcError`` carries its error).

        Its ``not_found`` names the request's ``id``; the tool's caller sent ``id_field`` (or
        ``node_run_id``, for a missing node run), so the error names that argument instead.
        """
        try:
            return await self.peer("orchestrator", operation, request, result_type)
        except RpcError as exc:
            body = exc.body
            if body.code is ErrorCode.NOT_FOUND and [d.field for d in body.details] == ["id"]:
                field = "node_run_id" if body.message.startswith("node run ") else id_field
                detail = FieldError(field=f"arguments.{field}", reason=body.details[0].reason)
                raise ToolError(msgspec.structs.replace(body, details=[detail])) from exc
            raise

    async def router(self, operation: str, request: Any, result_type: type[T]) -> T:
        """Call a router operation."""
        return await self.peer("router", operation, request, result_type)

    async def models(self, operation: str, request: Any, result_type: type[T]) -> T:
        """Call a models-service operation."""
        return await self.peer("models", operation, request, result_type)

    async def peer(self, service: str, operation: str, request: Any, result_type: type[T]) -> T:
        """Call ``operation`` of ``service`` (its errors pass through as ``RpcError``)."""
        return await call(
            self.bus,
            subjects.rpc(service, operation),
            request,
            result_type,
            timeout=RPC_TIMEOUT_SECONDS,
        )


def not_found(what: str, field: str, value: str) -> ToolError:
    """``not_found`` naming the argument that points nowhere."""
    return ToolError(
        ErrorBody.for_field(
            ErrorCode.NOT_FOUND,
            f"arguments.{field}",
            f"no such {what}",
            message=f"{what} {value!r} not found",
        )
    )
