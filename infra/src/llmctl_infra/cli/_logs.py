"""``llmctl logs``: print or follow one process's log."""

from __future__ import annotations

import argparse
import sys
import time

from llmctl_infra._logs import tail
from llmctl_infra.cli._common import CliError

__all__ = ["logs"]


def logs(args: argparse.Namespace) -> int:
    """Run ``llmctl logs SERVICE [-n N] [-f]``."""
    log_dir = args.home.resolve() / "logs"
    path = log_dir / f"{args.service}.log"
    if not path.exists():
        known = sorted(p.stem for p in log_dir.glob("*.log")) if log_dir.exists() else []
        raise CliError(
            f"no log for {args.service!r} in {log_dir}"
            + (f"; known: {', '.join(known)}" if known else "")
        )
    text = tail(path, args.lines)
    if text:
        print(text, flush=True)
    if not args.follow:
        return 0
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            handle.seek(0, 2)
            while True:
                line = handle.readline()
                if line:
                    sys.stdout.write(line)
                    sys.stdout.flush()
                else:
                    time.sleep(0.2)  # follow mode: poll the file for growth
    except KeyboardInterrupt:
        return 0
