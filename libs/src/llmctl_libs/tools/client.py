"""Calling a service's tools over NATS request/reply."""

from __future__ import annotations

from llmctl_contracts import subjects
from llmctl_contracts.tools import (
    ListTools,
    ToolCallRecord,
    ToolCallRequest,
    ToolCallResult,
    ToolDescriptor,
    ToolJournalRequest,
)

from ..bus import Bus
from ..rpc import call
from .invoker import NodeRunInvokers

__all__ = ["ToolClient"]


class ToolClient(NodeRunInvokers):
    """A client of one service's tool registry (toolhub by default).

    Args:
        bus: A started bus.
        service: The service serving the tools.
        timeout: Seconds to wait for an answer (cover the tool's timeout times its attempts).
    """

    def __init__(self, bus: Bus, *, service: str = "toolhub", timeout: float = 60.0) -> None:
        self._bus = bus
        self._service = service
        self._timeout = timeout

    async def invoke(self, request: ToolCallRequest) -> ToolCallResult:
        """Run one call; raises ``RpcError`` only when the call did not reach the tool layer
        (malformed request, nobody answering, no answer in time)."""
        return await call(
            self._bus,
            subjects.tool_call(self._service),
            request,
            ToolCallResult,
            timeout=self._timeout,
        )

    async def list_tools(
        self, *, domain: str | None = None, all_versions: bool = False
    ) -> list[ToolDescriptor]:
        """The registry's tools."""
        return await call(
            self._bus,
            subjects.tool_list(self._service),
            ListTools(domain=domain, all_versions=all_versions),
            list[ToolDescriptor],
            timeout=self._timeout,
        )

    async def journal(self, *, node_run_id: str, attempt: int) -> list[ToolCallRecord]:
        """The calls one node-run attempt already made (per call index, in index order)."""
        return await call(
            self._bus,
            subjects.tool_journal(self._service),
            ToolJournalRequest(node_run_id=node_run_id, attempt=attempt),
            list[ToolCallRecord],
            timeout=self._timeout,
        )
