"""An in-process invoker over the domain operations, idempotent per node run attempt.

Each call runs in its own transaction. Its key is ``<node_run_id>:<attempt>:<call index>``:
the call's result is recorded with that key in the same transaction, so when a command is
redelivered (a crash before the ack) the handler's calls replay their recorded results in
order and no write is applied twice.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from llmctl_contracts import ErrorBody, ErrorCode, FieldError, encode
from llmctl_contracts.codec import field_error_from_msgspec
from llmctl_libs.store import Database

from ..domains.errors import DomainError
from ..domains.operation import DomainOperation
from ..domains.tables import node_tool_calls
from .invoker import ToolCallError

__all__ = ["LocalToolInvoker"]


def _fingerprint(tool: str, arguments: dict[str, Any]) -> str:
    canonical = msgspec.json.encode(arguments, order="sorted")
    return hashlib.sha256(tool.encode() + b"\x1f" + canonical).hexdigest()


class LocalToolInvoker:
    """Maps tool names to domain operations; one transaction per call.

    Args:
        database: Toolhub's database.
        operations: ``{tool name: operation}``.
        call_key_prefix: ``<node_run_id>:<attempt>``; ``None`` records nothing (ad-hoc use).
    """

    def __init__(
        self,
        database: Database,
        operations: dict[str, DomainOperation],
        call_key_prefix: str | None = None,
    ) -> None:
        self._db = database
        self._operations = operations
        self._prefix = call_key_prefix
        self._index = 0
        self.calls: list[str] = []
        """Tool names called so far, in order (replayed ones included)."""

    async def __call__(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        op = self._operations.get(tool)
        if op is None:
            raise ToolCallError(
                ErrorBody(
                    code=ErrorCode.NOT_FOUND,
                    message=f"unknown tool {tool!r}",
                    details=[FieldError(field="tool", reason="no such tool")],
                )
            )
        try:
            args = msgspec.convert(arguments, op.input_type)
        except msgspec.ValidationError as exc:
            detail = field_error_from_msgspec(exc)
            raise ToolCallError(
                ErrorBody(
                    code=ErrorCode.VALIDATION_FAILED,
                    message=f"{tool}: invalid arguments: {detail.field}: {detail.reason}",
                    details=[detail],
                )
            ) from exc
        key = None if self._prefix is None else f"{self._prefix}:{self._index}"
        self._index += 1
        self.calls.append(tool)
        fingerprint = _fingerprint(tool, arguments)
        try:
            async with self._db.transaction() as conn:
                if key is not None:
                    recorded = (
                        await conn.execute(
                            sa.select(node_tool_calls).where(node_tool_calls.c.key == key)
                        )
                    ).first()
                    if recorded is not None:
                        return self._replayed(recorded, tool, fingerprint, key)
                result = msgspec.json.decode(encode(await op.function(conn, args)))
                if key is not None:
                    await conn.execute(
                        insert(node_tool_calls).values(
                            key=key, tool=tool, fingerprint=fingerprint, result=result
                        )
                    )
                return dict(result)
        except DomainError as exc:
            raise ToolCallError(exc.body) from exc

    @staticmethod
    def _replayed(recorded: Any, tool: str, fingerprint: str, key: str) -> dict[str, Any]:
        if recorded.tool != tool or recorded.fingerprint != fingerprint:
            raise ToolCallError(
                ErrorBody(
                    code=ErrorCode.IDEMPOTENCY_MISMATCH,
                    message=f"tool call {key} was recorded as {recorded.tool!r} with other "
                    f"arguments than this {tool!r} call",
                    details=[
                        FieldError(field="arguments", reason="differs from the recorded call")
                    ],
                )
            )
        return dict(recorded.result)
