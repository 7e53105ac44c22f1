"""``llmctl-demo-llm``: serve the offline demo model."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import uvicorn

from llmctl_infra.demo_llm._app import create_app

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> None:
    """Serve the demo model until interrupted.

    Args:
        argv: Command-line arguments (``--host``, ``--port``); defaults to ``sys.argv``.
    """
    parser = argparse.ArgumentParser(prog="llmctl-demo-llm", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    uvicorn.run(create_app(), host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
