"""``llmctl``: bring the local stack up and down, inspect it, run flowcharts."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from llmctl_infra.cli._common import CliError, default_home, fail

__all__ = ["build_parser", "main"]


def _gateway_port_default() -> int:
    return int(os.environ.get("LLMCTL_GATEWAY_PORT") or 8080)


def build_parser() -> argparse.ArgumentParser:
    """The ``llmctl`` argument parser."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--home",
        type=Path,
        default=default_home(),
        help="stack directory (default: $LLMCTL_HOME or ./.llmctl)",
    )
    parser = argparse.ArgumentParser(prog="llmctl", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", parents=[common], help="start the local stack")
    up.add_argument("--detach", action="store_true", help="run in the background")
    up.add_argument("--gateway-port", type=int, default=_gateway_port_default())
    up.add_argument("--timeout", type=float, default=300.0, help="seconds to wait (--detach)")
    up.add_argument("--foreground-supervisor", action="store_true", help=argparse.SUPPRESS)

    down = commands.add_parser("down", parents=[common], help="stop the local stack")
    down.add_argument("--timeout", type=float, default=120.0)

    status = commands.add_parser("status", parents=[common], help="show what runs")
    status.add_argument("--json", action="store_true")

    logs = commands.add_parser("logs", parents=[common], help="show a service's log")
    logs.add_argument("service", help="service name (or nats, postgres, demo-llm, supervisor)")
    logs.add_argument("-n", "--lines", type=int, default=50)
    logs.add_argument("-f", "--follow", action="store_true")

    run = commands.add_parser("run", parents=[common], help="run a flowchart file")
    run.add_argument("file", type=Path, help="flowchart JSON file")
    run.add_argument("--input", help="run input as a JSON object")
    run.add_argument("--wait", action="store_true", help="follow the run to its end")
    run.add_argument("--json", action="store_true", help="print a JSON summary")
    run.add_argument("--gateway", help="gateway base URL (default: from state.json)")
    run.add_argument("--timeout", type=float, default=600.0, help="seconds to wait (--wait)")

    # `bench` options are parsed by llmctl_infra.bench itself (see `main`)
    commands.add_parser("bench", help="run the benchmark (llmctl bench --help)", add_help=False)
    return parser


def _handler(command: str) -> Callable[[argparse.Namespace], int]:
    module = importlib.import_module(f"llmctl_infra.cli._{command}")
    handler: Callable[[argparse.Namespace], int] = getattr(module, command)
    return handler


def _bench(argv: Sequence[str]) -> int:
    if importlib.util.find_spec("llmctl_infra.bench") is None:
        return fail("the benchmark is not installed (llmctl_infra.bench is missing)")
    bench = importlib.import_module("llmctl_infra.bench")
    result = bench.main(list(argv))
    return int(result or 0)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``llmctl`` console script.

    Args:
        argv: Arguments without the program name; defaults to ``sys.argv[1:]``.

    Returns:
        The exit status (also passed to ``sys.exit`` when run as a script).
    """
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["bench"]:
        return _bench(arguments[1:])
    args = build_parser().parse_args(arguments)
    try:
        return _handler(args.command)(args)
    except CliError as exc:
        return fail(str(exc), exc.code)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `llmctl status --json | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
