"""The per-node-run invoker: ``await tools("run_get", {...})`` with auto-incrementing call
indexes, over the bus or in process."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from llmctl_contracts import ErrorBody, ErrorCode
from llmctl_contracts.tools import ToolCaller, ToolCallRequest, ToolCallResult, ToolStatus

from ..rpc import RpcError

__all__ = ["Invoke", "NodeRunInvokers", "NodeRunTools", "ToolCallError", "node_run_key_prefix"]

Invoke = Callable[[ToolCallRequest], Awaitable[ToolCallResult]]
"""Runs one call: :meth:`ToolRuntime.invoke` in process, :meth:`ToolClient.invoke` over NATS."""


def node_run_key_prefix(node_run_id: str, attempt: int | None) -> str:
    """The idempotency key prefix of a node run's calls (``"<node_run_id>:<attempt>"`` for one
    attempt); call ``i``'s key is ``"<prefix>:<i>"``."""
    return node_run_id if attempt is None else f"{node_run_id}:{attempt}"


class ToolCallError(Exception):
    """A tool call failed.

    Attributes:
        body: The error (shared envelope body).
        result: The call's full result, when the tool layer answered (``None`` when the call
            never reached it, e.g. no toolhub answering).
    """

    def __init__(self, body: ErrorBody, result: ToolCallResult | None = None) -> None:
        super().__init__(body.message)
        self.body = body
        self.result = result


class NodeRunTools:
    """Calls tools for one node run; each call gets the next call index.

    The idempotency key of call ``i`` is ``"<node_run_id>:<i>"`` (``"<node_run_id>:<attempt>:<i>"``
    when the invoker is for one attempt), so a node run that is executed again (a redelivered
    command) replays its earlier calls instead of repeating their effects, provided it makes
    the same calls in the same order; a new attempt (a node retry) calls afresh.

    Attributes:
        results: Every result so far (to read ``warnings`` and ``fallback_used``).
    """

    def __init__(
        self,
        invoke: Invoke,
        *,
        node_run_id: str,
        run_id: str,
        allowed_tools: list[str],
        request_id: str | None = None,
        correlation_id: str | None = None,
        start_index: int = 0,
        attempt: int | None = None,
    ) -> None:
        self._invoke = invoke
        self._node_run_id = node_run_id
        self._run_id = run_id
        self._allowed = list(allowed_tools)
        self._request_id = request_id
        self._correlation_id = correlation_id
        self._next = start_index
        self._key_prefix = node_run_key_prefix(node_run_id, attempt)
        self.results: list[ToolCallResult] = []

    @property
    def next_index(self) -> int:
        """The call index the next call will use."""
        return self._next

    async def __call__(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """Call ``tool``; its output, or :class:`ToolCallError` (``.body``) on failure."""
        index = self._next
        self._next += 1
        request = ToolCallRequest(
            tool=tool,
            arguments=arguments,
            idempotency_key=f"{self._key_prefix}:{index}",
            caller=ToolCaller.NODE,
            run_id=self._run_id,
            node_run_id=self._node_run_id,
            call_index=index,
            allowed_tools=self._allowed,
            request_id=self._request_id,
            correlation_id=self._correlation_id,
        )
        try:
            result = await self._invoke(request)
        except RpcError as exc:
            raise ToolCallError(exc.body) from exc
        self.results.append(result)
        if result.status is ToolStatus.ERROR or result.output is None:
            raise ToolCallError(result.error or _missing_output(tool), result)
        return result.output


def _missing_output(tool: str) -> ErrorBody:
    return ErrorBody(code=ErrorCode.INTERNAL, message=f"{tool} answered without output")


class NodeRunInvokers:
    """Hands out per-node-run invokers over ``self.invoke`` (in process or over the bus)."""

    async def invoke(self, request: ToolCallRequest) -> ToolCallResult:
        """Run one call (implemented by :class:`ToolRuntime` and :class:`ToolClient`)."""
        raise NotImplementedError

    def for_node_run(
        self,
        *,
        node_run_id: str,
        run_id: str,
        allowed_tools: list[str],
        request_id: str | None = None,
        correlation_id: str | None = None,
        start_index: int = 0,
        attempt: int | None = None,
    ) -> NodeRunTools:
        """A per-node-run invoker (same audit and idempotency path in process or over NATS)."""
        return NodeRunTools(
            self.invoke,
            node_run_id=node_run_id,
            run_id=run_id,
            allowed_tools=allowed_tools,
            request_id=request_id,
            correlation_id=correlation_id,
            start_index=start_index,
            attempt=attempt,
        )
