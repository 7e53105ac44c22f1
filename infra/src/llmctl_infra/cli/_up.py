"""``llmctl up``: start the stack in the foreground or as a detached supervisor."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from llmctl_infra._logs import tail
from llmctl_infra._wait import WaitTimeout, wait_until
from llmctl_infra.cli._common import CliError, read_state
from llmctl_infra.process import pid_alive
from llmctl_infra.stack import Stack, StackConfig, run_supervisor
from llmctl_infra.state import StackState

__all__ = ["describe", "up"]


def describe(state: StackState) -> str:
    """Human summary of where everything is."""
    lines = [f"llmctl is up (supervisor pid {state.supervisor_pid}, home {state.home})"]
    lines.append(f"  gateway   {state.gateway_url}")
    for name, record in state.infra.items():
        where = "embedded" if record.embedded else "external"
        lines.append(f"  {name:<9} {record.url} ({where})")
    for name, service in state.services.items():
        lines.append(f"  service   {name:<18} pid {service.pid}  {service.health_url}")
    return "\n".join(lines)


def _already_running(home: Path) -> None:
    state = read_state(home)
    if (
        state is not None
        and state.supervisor_pid is not None
        and state.phase not in ("stopped", "failed")
        and pid_alive(state.supervisor_pid, state.supervisor_create_time)
    ):
        raise CliError(
            f"the stack in {home} is already running (supervisor pid {state.supervisor_pid}); "
            "run `llmctl down` first"
        )


def _detach(home: Path, gateway_port: int, timeout: float) -> int:
    log_path = home / "logs" / "supervisor.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    argv = [
        sys.executable,
        "-m",
        "llmctl_infra.cli",
        "up",
        "--home",
        str(home),
        "--gateway-port",
        str(gateway_port),
        "--foreground-supervisor",
    ]
    with log_path.open("ab") as log:
        child = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def settled() -> bool:
        state = read_state(home)
        return (
            state is not None
            and state.supervisor_pid == child.pid
            and state.phase in ("running", "failed", "stopped")
        )

    try:
        wait_until(
            settled,
            timeout=timeout,
            interval=0.2,
            what="llmctl up --detach",
            abort=lambda: None if child.poll() is None else f"supervisor exited ({child.poll()})",
        )
    except WaitTimeout as exc:
        raise CliError(f"{exc}\nlast lines of {log_path}:\n{tail(log_path, 40)}") from exc
    state = read_state(home)
    assert state is not None
    if state.phase != "running":
        raise CliError(f"the stack failed to start: {state.error}\nsee {log_path}")
    print(describe(state))
    return 0


def up(args: argparse.Namespace) -> int:
    """Run ``llmctl up``."""
    home: Path = args.home.resolve()
    _already_running(home)
    if args.detach:
        return _detach(home, args.gateway_port, args.timeout)
    config = StackConfig.from_env(home, args.gateway_port)

    def ready(stack: Stack) -> None:
        print(describe(stack.state), flush=True)
        print("press Ctrl-C to stop", flush=True)

    return run_supervisor(config, on_ready=None if args.foreground_supervisor else ready)
