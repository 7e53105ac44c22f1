"""Toolhub's registry as an MCP server (streamable HTTP), calling the same runtime in process.

Every MCP call goes through :meth:`ToolRuntime.invoke` with ``caller=mcp``: the same argument
validation, audit record and fallback contract as a call over the bus. MCP calls carry no node
allowlist and no idempotency key, so each call is a new operation (a repeated write control
call reaches the orchestrator again, which refuses what the run can no longer take).
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

from llmctl_contracts import encode
from llmctl_contracts.tools import ToolCaller, ToolCallRequest, ToolStatus
from llmctl_libs.tools import ToolRuntime

__all__ = ["McpEndpoint", "mcp_server"]

SERVER_NAME = "llmctl-toolhub"
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
        result = await runtime.invoke(
            ToolCallRequest(
                tool=params.name, arguments=dict(params.arguments or {}), caller=ToolCaller.MCP
            )
        )
        if result.status is ToolStatus.ERROR or result.output is None:
            error = json.loads(encode(result.error)) if result.error else {}
            return types.CallToolResult(
                content=[types.TextContent(type="text", text=json.dumps({"error": error}))],
                is_error=True,
            )
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


class _EmbeddedUvicorn(uvicorn.Server):
    """uvicorn without its own signal handlers: the service's runtime owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class McpEndpoint:
    """Serves :func:`mcp_server` over streamable HTTP at ``http://HOST:PORT/mcp``."""

    def __init__(self, runtime: ToolRuntime, *, host: str, port: int) -> None:
        app = mcp_server(runtime).streamable_http_app(streamable_http_path=MCP_PATH, host=host)
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
