"""Reading the end of log files."""

from __future__ import annotations

from collections import deque
from pathlib import Path

__all__ = ["tail"]


def tail(path: Path, lines: int = 30) -> str:
    """Return the last ``lines`` lines of a text file ('' when it does not exist).

    Args:
        path: The file.
        lines: How many lines to keep.

    Returns:
        The lines joined with newlines.
    """
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            return "".join(deque(handle, maxlen=lines)).rstrip("\n")
    except FileNotFoundError:
        return ""
