"""Running one service spec as a process: environment, migrations, health, restart."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from llmctl_infra._logs import tail
from llmctl_infra._wait import wait_until
from llmctl_infra.ports import LOOPBACK, free_port
from llmctl_infra.process import ManagedProcess, resolve_executable
from llmctl_infra.specs import ServiceSpec
from llmctl_infra.state import ServiceRecord

__all__ = [
    "DEMO_LLM_API_KEY",
    "Endpoints",
    "MigrationError",
    "ServiceProcess",
    "probe",
    "run_migrations",
    "service_env",
]

DEMO_LLM_API_KEY = "offline-demo"


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Where services find the shared infrastructure.

    Attributes:
        nats_url: ``LLMCTL_NATS_URL``.
        database_url: ``LLMCTL_DATABASE_URL`` (SQLAlchemy URL).
        gateway_port: ``LLMCTL_GATEWAY_PORT`` for the gateway.
        demo_llm_url: OpenAI base URL of the demo model when it runs.
        extra_env: Added to every service's environment.
    """

    nats_url: str
    database_url: str
    gateway_port: int = 8080
    demo_llm_url: str | None = None
    extra_env: Mapping[str, str] = field(default_factory=dict)


def service_env(spec: ServiceSpec, endpoints: Endpoints, health_port: int) -> dict[str, str]:
    """Return the full environment for a service process (ours plus the ``LLMCTL_*`` keys)."""
    env = dict(os.environ)
    env.update(endpoints.extra_env)
    env.update(
        {
            "LLMCTL_NATS_URL": endpoints.nats_url,
            "LLMCTL_DATABASE_URL": endpoints.database_url,
            "LLMCTL_HEALTH_PORT": str(health_port),
            "LLMCTL_SERVICE_NAME": spec.name,
            "PYTHONUNBUFFERED": "1",
        }
    )
    if spec.gateway:
        env["LLMCTL_GATEWAY_HOST"] = LOOPBACK
        env["LLMCTL_GATEWAY_PORT"] = str(endpoints.gateway_port)
    else:  # an inherited gateway port must not make another service bind it
        env.pop("LLMCTL_GATEWAY_HOST", None)
        env.pop("LLMCTL_GATEWAY_PORT", None)
    if endpoints.demo_llm_url is not None:
        env["LLMCTL_DEMO_LLM_URL"] = endpoints.demo_llm_url
        env["LLMCTL_DEMO_LLM_API_KEY"] = DEMO_LLM_API_KEY
    env.update(spec.env)
    return env


def probe(url: str, timeout: float = 1.0) -> bool:
    """GET ``url``; True on a 2xx answer."""
    try:
        return httpx.get(url, timeout=timeout).is_success
    except httpx.HTTPError:
        return False


class MigrationError(RuntimeError):
    """A service's ``migrate`` command failed."""


def run_migrations(
    specs: Sequence[ServiceSpec],
    endpoints: Endpoints,
    log_dir: Path,
    *,
    timeout: float = 180.0,
) -> None:
    """Run ``<service> migrate`` for every spec with ``migrate=True``, concurrently.

    Raises:
        MigrationError: One failed or timed out; names it and includes its output.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    running: list[tuple[ServiceSpec, subprocess.Popen[bytes], Path]] = []
    for spec in (s for s in specs if s.migrate):
        log_path = log_dir / f"{spec.name}.migrate.log"
        argv = [resolve_executable(spec.migrate_argv[0]), *spec.migrate_argv[1:]]
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=service_env(spec, endpoints, 0),
            )
        running.append((spec, proc, log_path))
    deadline = time.monotonic() + timeout
    failures: list[str] = []
    for spec, proc, log_path in running:
        try:
            code = proc.wait(max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            code = None
        if code != 0:
            why = "timed out" if code is None else f"exited with code {code}"
            failures.append(f"{spec.name} migrate {why}; {log_path}:\n{tail(log_path, 40)}")
    if failures:
        raise MigrationError("migrations failed:\n" + "\n\n".join(failures))


class ServiceProcess:
    """One supervised service: a :class:`ManagedProcess` plus health URL and restart count.

    The health port is chosen once, so a restarted service answers on the same URL.

    Args:
        spec: What to run.
        endpoints: Shared infrastructure URLs.
        log_dir: Directory for ``<name>.log``.
        health_port: Port for ``LLMCTL_HEALTH_PORT``; a free one when None.
    """

    def __init__(
        self,
        spec: ServiceSpec,
        endpoints: Endpoints,
        log_dir: Path,
        *,
        health_port: int | None = None,
    ) -> None:
        self.spec = spec
        self.health_port = health_port or free_port()
        port = endpoints.gateway_port if spec.gateway else self.health_port
        self.base_url = f"http://{LOOPBACK}:{port}"
        self.health_url = f"{self.base_url}{spec.health_path}"
        self.restarts = 0
        self.state = "stopped"
        self.process = ManagedProcess(
            spec.name,
            spec.argv,
            log_path=log_dir / f"{spec.name}.log",
            env=service_env(spec, endpoints, self.health_port),
        )

    @property
    def name(self) -> str:
        """The service name."""
        return self.spec.name

    @property
    def pid(self) -> int | None:
        """Current pid (None before start)."""
        return self.process.pid

    def start(self) -> None:
        """Spawn the process (state ``starting``)."""
        self.process.start()
        self.state = "starting"

    def restart(self) -> None:
        """Spawn it again after it died, counting the restart (state ``restarting``)."""
        self.process.kill()
        self.process.start()
        self.restarts += 1
        self.state = "restarting"

    def healthy(self) -> bool:
        """Probe the health URL once."""
        return probe(self.health_url)

    def wait_healthy(self, timeout: float = 60.0) -> None:
        """Block until healthy (state ``running``).

        Raises:
            WaitTimeout: It exited or stayed unhealthy; names it and includes its log tail.
        """
        wait_until(
            self.healthy,
            timeout=timeout,
            interval=0.1,
            what=f"service {self.name} ({self.health_url})",
            abort=self.process.exit_reason,
            detail=lambda: f"last lines of {self.process.log_path}:\n{self.process.log_tail()}",
        )
        self.state = "running"

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM it (SIGKILL after ``timeout``)."""
        self.process.terminate(timeout)
        self.state = "stopped"

    def kill(self) -> None:
        """SIGKILL it."""
        self.process.kill()

    def record(self) -> ServiceRecord:
        """Return its ``state.json`` record."""
        return ServiceRecord(
            name=self.name,
            health_url=self.health_url,
            log=str(self.process.log_path),
            pid=self.process.pid,
            create_time=self.process.create_time,
            state=self.state,
            restarts=self.restarts,
        )
