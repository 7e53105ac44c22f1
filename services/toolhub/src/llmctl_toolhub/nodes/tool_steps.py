"""Retrying a tool step (``tool_retry_attempts``, ``tool_retry_backoff_ms``)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from llmctl_contracts import ErrorCode
from llmctl_contracts.special_nodes import SpecialNodeTooling

from .invoker import ToolCallError

__all__ = ["RETRYABLE", "with_retries"]

T = TypeVar("T")

RETRYABLE = frozenset(
    {ErrorCode.CONFLICT, ErrorCode.UNAVAILABLE, ErrorCode.TIMEOUT, ErrorCode.INTERNAL}
)
"""Tool errors worth another try: a concurrent writer moved the version on, or a transient
outage. Validation errors and missing entities fail at once."""


async def with_retries(step: Callable[[], Awaitable[T]], tooling: SpecialNodeTooling) -> T:
    """Run ``step`` (a read-modify-write over tools) with the node's tool retry policy."""
    tries = 1 + tooling.retries()
    for attempt in range(1, tries + 1):
        try:
            return await step()
        except ToolCallError as exc:
            if exc.body.code not in RETRYABLE or attempt == tries:
                raise
            if tooling.tool_retry_backoff_ms:
                await asyncio.sleep(tooling.tool_retry_backoff_ms / 1000)
    raise AssertionError("unreachable")
