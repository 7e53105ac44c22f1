"""The port special-node handlers call tools through."""

from __future__ import annotations

from typing import Any, Protocol

from llmctl_contracts import ErrorBody

__all__ = ["ToolCallError", "ToolInvoker"]


class ToolCallError(Exception):
    """A tool call failed.

    Attributes:
        body: The error in the shared envelope's shape.
    """

    def __init__(self, body: ErrorBody) -> None:
        super().__init__(body.message)
        self.body = body


class ToolInvoker(Protocol):
    """Calls one tool by name with JSON arguments and returns its JSON result.

    Raises:
        ToolCallError: The tool refused the arguments or failed.
    """

    async def __call__(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]: ...
