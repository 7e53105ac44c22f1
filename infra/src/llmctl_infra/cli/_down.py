"""``llmctl down``: stop the supervisor and everything it started."""

from __future__ import annotations

import argparse
import os
import signal

from llmctl_infra._wait import WaitTimeout, wait_until
from llmctl_infra.cli._common import CliError, read_state
from llmctl_infra.process import pid_alive, stop_pid

__all__ = ["down"]


def down(args: argparse.Namespace) -> int:
    """Run ``llmctl down``: SIGTERM the supervisor, wait, then stop any leftover process."""
    state = read_state(args.home)
    if state is None:
        print(f"llmctl: nothing to stop in {args.home.resolve()}")
        return 0
    pid, created = state.supervisor_pid, state.supervisor_create_time
    if pid is not None and pid_alive(pid, created):
        signal_supervisor(pid)
        try:
            wait_until(
                lambda: not pid_alive(pid, created),
                timeout=args.timeout,
                interval=0.1,
                what=f"supervisor pid {pid} to exit",
            )
        except WaitTimeout as exc:
            raise CliError(str(exc)) from exc
    # A supervisor that was SIGKILLed leaves its children behind: stop what it recorded.
    leftovers = [(s.pid, s.create_time) for s in reversed(list(state.services.values()))]
    for name in ("demo-llm", "postgres", "nats"):
        record = state.infra.get(name)
        if record is not None and record.embedded:
            leftovers.append((record.pid, record.create_time))
    for child_pid, child_created in leftovers:
        if child_pid is not None:
            stop_pid(child_pid, create_time=child_created)
    print("llmctl: stack stopped")
    return 0


def signal_supervisor(pid: int) -> None:
    """Ask the supervisor to shut down."""
    os.kill(pid, signal.SIGTERM)
