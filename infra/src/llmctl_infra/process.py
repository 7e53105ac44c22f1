"""One child process we started: spawn, log to a file, stop or kill it by its own PID."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import psutil

from llmctl_infra._logs import tail

__all__ = ["ManagedProcess", "pid_alive", "resolve_executable", "stop_pid"]


def resolve_executable(name: str) -> str:
    """Find a console script, preferring the bin dir of the running interpreter's venv.

    Args:
        name: A bare program name (``llmctl-router``) or a path.

    Returns:
        An absolute path when found, else ``name`` unchanged (the spawn then fails loudly).
    """
    if os.sep in name:
        return name
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    return shutil.which(name) or name


def pid_alive(pid: int, create_time: float | None = None) -> bool:
    """Tell whether ``pid`` is a live (non-zombie) process, optionally the same one as before.

    Args:
        pid: Process id.
        create_time: When given, the process must have this psutil create time, which
            guards against a recycled pid.

    Returns:
        True when alive.
    """
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return create_time is None or abs(proc.create_time() - create_time) < 0.5
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def stop_pid(pid: int, *, create_time: float | None = None, timeout: float = 10.0) -> None:
    """SIGTERM a process we do not hold a handle for, SIGKILL it after ``timeout``.

    Args:
        pid: Process id.
        create_time: psutil create time recorded at spawn (guards against pid reuse).
        timeout: Seconds to wait after SIGTERM.
    """
    if not pid_alive(pid, create_time):
        return
    try:
        proc = psutil.Process(pid)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout)
    except psutil.TimeoutExpired:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
            proc.wait(5)
    except psutil.NoSuchProcess:
        return


class ManagedProcess:
    """A child process whose output goes to a log file.

    Args:
        name: Label used in messages.
        argv: Program and arguments; ``argv[0]`` is resolved with :func:`resolve_executable`.
        log_path: File that receives stdout and stderr (appended).
        env: Full environment for the child (defaults to ours).
        cwd: Working directory.
        user: Run as this system user (only meaningful when we are root).
        new_session: Start in its own session so a terminal Ctrl-C reaches only the supervisor.
        stop_signal: Signal :meth:`terminate` sends (postgres wants SIGINT for a fast stop).
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        user: str | None = None,
        new_session: bool = True,
        stop_signal: signal.Signals = signal.SIGTERM,
    ) -> None:
        self.name = name
        self.argv = [resolve_executable(argv[0]), *argv[1:]]
        self.log_path = log_path
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.user = user
        self.new_session = new_session
        self.stop_signal = stop_signal
        self._popen: subprocess.Popen[bytes] | None = None
        self.create_time: float | None = None

    @property
    def pid(self) -> int | None:
        """The child's pid, or None before the first start."""
        return self._popen.pid if self._popen is not None else None

    @property
    def returncode(self) -> int | None:
        """Exit status once it has exited (negative: killed by that signal), else None."""
        return self._popen.poll() if self._popen is not None else None

    def running(self) -> bool:
        """Tell whether the child has been started and has not exited."""
        return self._popen is not None and self._popen.poll() is None

    def start(self) -> None:
        """Spawn the child (a no-op when it is already running)."""
        if self.running():
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            log.write(f"--- {stamp} starting {self.name}: {' '.join(self.argv)}\n".encode())
            log.flush()
            self._popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                user=self.user,
                group=self.user,
                extra_groups=[] if self.user is not None else None,
                start_new_session=self.new_session,
            )
        with contextlib.suppress(psutil.NoSuchProcess):
            self.create_time = psutil.Process(self._popen.pid).create_time()

    def terminate(self, timeout: float = 10.0) -> None:
        """Send the stop signal and wait; SIGKILL the child if it outlives ``timeout`` seconds."""
        if self._popen is None or self._popen.poll() is not None:
            return
        self._popen.send_signal(self.stop_signal)
        try:
            self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL the child and reap it."""
        if self._popen is None or self._popen.poll() is not None:
            return
        self._popen.kill()
        self._popen.wait()

    def log_tail(self, lines: int = 30) -> str:
        """Return the last lines of the child's log."""
        return tail(self.log_path, lines)

    def exit_reason(self) -> str | None:
        """Return 'exited with code N' once the child has exited, else None."""
        code = self.returncode
        return None if code is None else f"{self.name} exited with code {code}"
