"""Toolhub's registry as an MCP server (streamable HTTP), calling the same runtime in process.

Every MCP call goes through :meth:`ToolRuntime.invoke` with ``caller=mcp``: the same argument
validation, audit record and fallback contract as a call over the bus. MCP calls carry no node
allowlist. A client may put ``llmctl/idempotency_key``, ``llmctl/request_id``,
``llmctl/correlation_id`` and ``llmctl/run_id`` (strings) in the request's ``_meta``; without
an idempotency key every call is a new operation (a repeated control call reaches the
orchestrator again, which refuses what the run can no longer take).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Generator
from typing import Any

import mcp_types as types
import uvicorn
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server

from llmctl_contracts import ErrorBody, ErrorCode, FieldError, encode
from llmctl_contracts.tools import ToolCaller, ToolCallRequest, ToolStatus
from llmctl_libs.tools import ToolRuntime

__all__ = ["META_KEYS", "McpEndpoint", "mcp_server"]

SERVER_NAME = "llmctl-toolhub"
META_KEYS = {
    "idempotency_key": "llmctl/idempotency_key",
    "request_id": "llmctl/request_id",
    "correlation_id": "llmctl/correlation_id",
    "run_id": "llmctl/run_id",
}
"""``ToolCallRequest`` field -> the ``_meta`` key an MCP client sets it with."""
MCP_PATH = "/mcp"


def mcp_server(runtime: ToolRuntime) -> Server[Any]:
    """An MCP server listing and calling ``runtime``'s tools."""

    async def list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(
            tools=[
                types.Tool(
                    name=d.name,
                    description=d.description,
                    input_schema=d.input_schema,
                    output_schema=d.output_schema,
                    annotations=types.ToolAnnotations(read_only_hint=not d.writes),
                )
                for d in runtime.registry.describe()
            ]
        )

    async def call_tool(
        ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        meta = dict(params.meta or {})
        bad = [k for k in META_KEYS.values() if k in meta and not isinstance(meta[k], str)]
        if bad:
            reason = "must be a string"
            body = ErrorBody(
                code=ErrorCode.VALIDATION_FAILED,
                message=f"_meta.{bad[0]} {reason}",
                details=[FieldError(field=f"_meta.{k}", reason=reason) for k in bad],
            )
            return _error_result(body)
        traced = {f: v for f, k in META_KEYS.items() if isinstance(v := meta.get(k), str)}
        result = await runtime.invoke(
            ToolCallRequest(
                tool=params.name,
                arguments=dict(params.arguments or {}),
                caller=ToolCaller.MCP,
                idempotency_key=traced.get("idempotency_key"),
                request_id=traced.get("request_id"),
                correlation_id=traced.get("correlation_id"),
                run_id=traced.get("run_id"),
            )
        )
        if result.status is ToolStatus.ERROR or result.output is None:
            return _error_result(result.error)
        text = json.dumps(
            {"output": result.output, "warnings": result.warnings}
            if result.warnings
            else result.output
        )
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=text)],
            structured_content=result.output,
        )

    return Server(SERVER_NAME, on_list_tools=list_tools, on_call_tool=call_tool)


def _error_result(error: ErrorBody | None) -> types.CallToolResult:
    body = json.loads(encode(error)) if error else {}
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=json.dumps({"error": body}))],
        is_error=True,
    )


class _EmbeddedUvicorn(uvicorn.Server):
    """uvicorn without its own signal handlers: the service's runtime owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class McpEndpoint:
    """Serves :func:`mcp_server` over streamable HTTP at ``http://HOST:PORT/mcp``."""

    def __init__(self, runtime: ToolRuntime, *, host: str, port: int) -> None:
        # Stateless: no session lives in one replica, so toolhub replicas behind one address
        # can each answer any request.
        app = mcp_server(runtime).streamable_http_app(
            streamable_http_path=MCP_PATH, host=host, stateless_http=True
        )
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
        self._server = _EmbeddedUvicorn(config)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start listening; raises when the port cannot be bound."""
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                await self._task
                raise RuntimeError("the MCP endpoint did not start")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        """Stop serving."""
        if self._task is not None:
            self._server.should_exit = True
            await self._task
            self._task = None
