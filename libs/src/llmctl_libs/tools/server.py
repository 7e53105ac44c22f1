"""Serving a tool runtime on the bus."""

from __future__ import annotations

from llmctl_contracts import subjects
from llmctl_contracts.tools import (
    ListTools,
    ToolCallRecord,
    ToolCallRequest,
    ToolDescriptor,
    ToolJournalRequest,
)

from ..bus import Bus
from ..rpc import endpoint
from .runtime import ToolRuntime

__all__ = ["serve_tools"]


def serve_tools(bus: Bus, runtime: ToolRuntime, *, service: str = "toolhub") -> None:
    """Answer ``tool_call(service)``, ``tool_list(service)`` and ``tool_journal(service)``
    (register before start).

    A request that is not a valid :class:`ToolCallRequest` is answered with an error reply
    and no audit record (there is no call to record); every decodable call gets one.
    """

    async def list_tools(request: ListTools) -> list[ToolDescriptor]:
        return runtime.registry.describe(domain=request.domain, all_versions=request.all_versions)

    endpoint(bus, subjects.tool_call(service), ToolCallRequest, runtime.invoke)

    async def journal(request: ToolJournalRequest) -> list[ToolCallRecord]:
        return await runtime.journal(request)

    endpoint(bus, subjects.tool_list(service), ListTools, list_tools)
    endpoint(bus, subjects.tool_journal(service), ToolJournalRequest, journal)
