"""Wires toolhub's tool registry: bus request/reply, and MCP when a port is configured."""

from __future__ import annotations

import os

from llmctl_libs.service import ServiceContext
from llmctl_libs.tools import ToolCallStore, ToolRuntime, serve_tools

from .tables import tool_calls
from .tools import ToolDeps, build_registry

__all__ = ["MCP_HOST_ENV", "MCP_PORT_ENV", "mcp_port_from_env", "register_tools"]

MCP_PORT_ENV = "LLMCTL_TOOLHUB_MCP_PORT"
"""Port of the MCP endpoint; unset or ``0``: no MCP endpoint."""
MCP_HOST_ENV = "LLMCTL_TOOLHUB_MCP_HOST"
"""Interface the MCP endpoint binds (default ``127.0.0.1``)."""


def mcp_port_from_env() -> int:
    """The MCP port, 0 when disabled; a clear exit when it is not a port number."""
    raw = os.environ.get(MCP_PORT_ENV, "0").strip() or "0"
    try:
        port = int(raw)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise SystemExit(f"{MCP_PORT_ENV} must be a port number (0 disables MCP), got {raw!r}")
    return port


def register_tools(ctx: ServiceContext) -> ToolRuntime:
    """Serve the registry on the bus (and over MCP when enabled); returns the runtime, for
    in-process calls (``runtime.for_node_run(...)``)."""
    persistence = ctx.require_persistence()
    calls = ToolCallStore(tool_calls)
    runtime = ToolRuntime(
        build_registry(ToolDeps(bus=ctx.bus, calls=calls)),
        database=persistence.database,
        store=calls,
    )
    serve_tools(ctx.bus, runtime, service="toolhub")
    port = mcp_port_from_env()
    if port:
        host = os.environ.get(MCP_HOST_ENV, "127.0.0.1")
        from .mcp_server import McpEndpoint  # the MCP SDK is loaded only when MCP is on

        endpoint = McpEndpoint(runtime, host=host, port=port)
        ctx.on_start.append(endpoint.start)
        ctx.on_stop.append(endpoint.stop)
    return runtime
