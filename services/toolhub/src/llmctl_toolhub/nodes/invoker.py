"""The port special-node handlers call tools through.

The worker hands each handler a per-node-run invoker of the shared tool framework
(:class:`llmctl_libs.tools.NodeRunTools`, in process on toolhub's own registry); tests may hand
any object with the same call shape.
"""

from __future__ import annotations

from typing import Any, Protocol

from llmctl_libs.tools import ToolCallError

__all__ = ["ToolCallError", "ToolInvoker"]


class ToolInvoker(Protocol):
    """Calls one tool by name with JSON arguments and returns its JSON result.

    Raises:
        ToolCallError: The tool refused the arguments or failed (``.body``).
    """

    async def __call__(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]: ...
