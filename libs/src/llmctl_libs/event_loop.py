"""The event loop services run on: uvloop where it is installed, else asyncio's own.

uvloop's loop (libuv, in C) schedules callbacks and polls sockets at a fraction of the Python
cost of asyncio's selector loop; on the hop path every message is several callbacks and socket
waits (NATS, Postgres), so the loop's own overhead is a visible share of a service's CPU.
``LLMCTL_EVENT_LOOP=asyncio`` forces the standard loop (to compare, or to debug with asyncio's
debug mode).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["EVENT_LOOP_VARIABLE", "loop_factory", "run"]

EVENT_LOOP_VARIABLE = "LLMCTL_EVENT_LOOP"
_T = TypeVar("_T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop factory, or ``None`` for asyncio's default loop.

    Raises:
        SystemExit: ``LLMCTL_EVENT_LOOP`` is neither ``uvloop``, ``asyncio`` nor empty (the
            message names the variable).
    """
    choice = os.environ.get(EVENT_LOOP_VARIABLE, "").strip().lower() or "uvloop"
    if choice == "asyncio":
        return None
    if choice != "uvloop":
        raise SystemExit(f"{EVENT_LOOP_VARIABLE} must be 'uvloop' or 'asyncio', got {choice!r}")
    try:
        import uvloop
    except ImportError:  # not installed (Windows): the standard loop
        return None
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, _T]) -> _T:
    """Run ``main`` to completion on the chosen loop (as ``asyncio.run`` does)."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)
