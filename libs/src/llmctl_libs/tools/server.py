"""Serving a tool runtime on the bus."""

from __future__ import annotations

from llmctl_contracts import subjects
from llmctl_contracts.tools import ListTools, ToolCallRequest, ToolDescriptor

from ..bus import Bus
from ..rpc import endpoint
from .runtime import ToolRuntime

__all__ = ["serve_tools"]


def serve_tools(bus: Bus, runtime: ToolRuntime, *, service: str = "toolhub") -> None:
    """Answer ``tool_call(service)`` and ``tool_list(service)`` (register before start).

    A request that is not a valid :class:`ToolCallRequest` is answered with an error reply
    and no audit record (there is no call to record); every decodable call gets one.
    """

    async def list_tools(request: ListTools) -> list[ToolDescriptor]:
        return runtime.registry.describe(domain=request.domain, all_versions=request.all_versions)

    endpoint(bus, subjects.tool_call(service), ToolCallRequest, runtime.invoke)
    endpoint(bus, subjects.tool_list(service), ListTools, list_tools)
