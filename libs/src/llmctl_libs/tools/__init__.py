"""The tool framework shared by toolhub and the executors.

A :class:`ToolRegistry` of :class:`ToolSpec`\\ s (typed handlers with msgspec input/output), a
:class:`ToolRuntime` that runs calls (allowlist, validation, idempotent replay, timeout and
retries, audit records), served on the bus by :func:`serve_tools` and called through
:class:`ToolClient` or, per node run, :class:`NodeRunTools`. See ``docs/tools.md``.
"""

from .client import ToolClient
from .invoker import Invoke, NodeRunTools, ToolCallError, node_run_key_prefix
from .registry import ToolRegistry, describe
from .renderings import render_anthropic, render_gemini, render_openai
from .runtime import ToolRuntime
from .schema import struct_schema
from .server import serve_tools
from .spec import RETRYABLE_CODES, ToolContext, ToolError, ToolHandler, ToolSpec
from .store import Claim, ToolCallStore, ToolCallTables, tool_call_tables

__all__ = [
    "RETRYABLE_CODES",
    "Claim",
    "Invoke",
    "NodeRunTools",
    "ToolCallError",
    "ToolCallStore",
    "ToolCallTables",
    "ToolClient",
    "ToolContext",
    "ToolError",
    "ToolHandler",
    "ToolRegistry",
    "ToolRuntime",
    "ToolSpec",
    "describe",
    "node_run_key_prefix",
    "render_anthropic",
    "render_gemini",
    "render_openai",
    "serve_tools",
    "struct_schema",
    "tool_call_tables",
]
