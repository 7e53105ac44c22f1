"""``llmctl-toolhub [run|migrate]``."""

from __future__ import annotations

import sys

from llmctl_libs.service import run_cli

from .app import DEFINITION


def main() -> None:
    """Console entry point."""
    sys.exit(run_cli(DEFINITION))


if __name__ == "__main__":
    main()
