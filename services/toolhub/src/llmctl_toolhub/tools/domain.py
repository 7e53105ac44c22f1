"""The memory, plan, milestone and decision domain operations as registered tools.

Each :class:`~llmctl_toolhub.domains.operation.DomainOperation` runs on the call's own
transaction (``ctx.conn``), so its writes commit together with the call's audit and
idempotency records: a repeated key replays the recorded result and writes nothing again.
"""

from __future__ import annotations

from typing import Any

import msgspec

from llmctl_contracts import ErrorBody
from llmctl_libs.tools import ToolContext, ToolError, ToolSpec

from ..domains.catalog import DOMAIN_OPERATIONS
from ..domains.errors import DomainError
from ..domains.operation import DomainOperation

__all__ = ["SPECIAL_NODE_TOOLS", "domain_tools"]

_DOMAINS = ("memory", "plan", "milestone", "decision")

SPECIAL_NODE_TOOLS: dict[str, list[str]] = {
    node_type: [op.name for op in DOMAIN_OPERATIONS if op.name.startswith(f"{node_type}_")]
    for node_type in ("memory", "plan", "milestone")
}
"""The tool allowlist of each special node kind: its own domain's tools, nothing else."""


def _handler(op: DomainOperation) -> Any:
    async def handler(ctx: ToolContext, args: Any) -> Any:
        try:
            return await op.function(ctx.require_conn(), args)
        except DomainError as exc:
            raise ToolError(_in_arguments(exc.body)) from exc

    return handler


def _in_arguments(body: ErrorBody) -> ErrorBody:
    """Name the fields a domain refused as the call's arguments (``arguments.id``), as the
    runtime names schema violations."""
    details = [
        msgspec.structs.replace(d, field=f"arguments.{d.field}") if d.field else d
        for d in body.details
    ]
    return msgspec.structs.replace(body, details=details)


def _domain(op: DomainOperation) -> str:
    return next(d for d in _DOMAINS if op.name.startswith(f"{d}_"))


def domain_tools() -> list[ToolSpec[Any, Any]]:
    """A tool per domain operation (version 1, the runtime's default timeout and retries)."""
    return [
        ToolSpec(
            op.name,
            1,
            _domain(op),
            op.description,
            op.input_type,
            op.output_type,
            _handler(op),
            writes=op.writes,
        )
        for op in DOMAIN_OPERATIONS
    ]
