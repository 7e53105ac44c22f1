"""What the ``llmctl`` subcommands share: home directory, state, error output."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from llmctl_infra.state import STATE_FILE, StackState

__all__ = ["CliError", "default_home", "fail", "read_state"]


class CliError(Exception):
    """A user-facing error: printed as ``llmctl: <message>``, exit status ``code``."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def default_home() -> Path:
    """``$LLMCTL_HOME`` or ``./.llmctl``."""
    return Path(os.environ.get("LLMCTL_HOME") or ".llmctl")


def read_state(home: Path) -> StackState | None:
    """The stack state in ``home`` (None when there is none)."""
    return StackState.read(home.resolve() / STATE_FILE)


def fail(message: str, code: int = 1) -> int:
    """Print ``llmctl: message`` to stderr and return ``code``."""
    print(f"llmctl: {message}", file=sys.stderr)
    return code
