"""Poll a condition until it holds or a deadline passes (never a bare sleep)."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["WaitTimeout", "wait_until"]


class WaitTimeout(TimeoutError):
    """Raised when a condition did not hold before its deadline."""


def wait_until(
    condition: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    interval: float = 0.05,
    abort: Callable[[], str | None] | None = None,
    detail: Callable[[], str] | None = None,
) -> None:
    """Block until ``condition()`` is true.

    Args:
        condition: Checked repeatedly; exceptions propagate.
        timeout: Seconds before giving up.
        what: Human description used in the error message.
        interval: Seconds between checks.
        abort: Called each round; a non-None string aborts at once with that reason
            (e.g. "process exited with code 1").
        detail: Called on failure to add context (e.g. a log tail) to the message.

    Raises:
        WaitTimeout: The deadline passed or ``abort`` gave a reason.
    """
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return
        reason = abort() if abort is not None else None
        if reason is None and time.monotonic() >= deadline:
            reason = f"timed out after {timeout:.0f}s"
        if reason is not None:
            message = f"{what}: {reason}"
            if detail is not None:
                message = f"{message}\n{detail()}"
            raise WaitTimeout(message)
        time.sleep(interval)
