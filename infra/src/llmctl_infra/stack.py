"""The local stack supervisor: infrastructure, migrations, every service, restarts, shutdown."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType

import psutil

from llmctl_infra.infrastructure import Infrastructure
from llmctl_infra.ports import LOOPBACK, port_is_open
from llmctl_infra.service import Endpoints, ServiceProcess, run_migrations
from llmctl_infra.specs import DEFAULT_SERVICES, ServiceSpec
from llmctl_infra.state import STATE_FILE, StackState

__all__ = ["Stack", "StackConfig", "StackError", "StackInterrupted", "run_supervisor"]


class StackError(RuntimeError):
    """The stack could not start."""


class StackInterrupted(BaseException):
    """SIGINT/SIGTERM arrived while the supervisor was busy."""


@dataclass(frozen=True, slots=True)
class StackConfig:
    """How to run the local stack.

    Attributes:
        home: Data, logs and ``state.json`` directory.
        gateway_port: Port the gateway listens on.
        nats_url: External NATS; embedded when None.
        database_url: External Postgres SQLAlchemy URL; embedded when None.
        demo_llm: Start the offline demo model.
        health_timeout: Seconds each service gets to become healthy.
        restart_backoff: First delay before restarting a dead service (doubles, max 30s).
        extra_env: Added to every service's environment.
    """

    home: Path
    gateway_port: int = 8080
    nats_url: str | None = None
    database_url: str | None = None
    demo_llm: bool = True
    health_timeout: float = 120.0
    restart_backoff: float = 0.5
    extra_env: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, home: Path, gateway_port: int = 8080) -> StackConfig:
        """Config from ``LLMCTL_NATS_URL``, ``LLMCTL_DATABASE_URL`` and ``OPENAI_API_KEY``."""
        return cls(
            home=home,
            gateway_port=gateway_port,
            nats_url=os.environ.get("LLMCTL_NATS_URL") or None,
            database_url=os.environ.get("LLMCTL_DATABASE_URL") or None,
            demo_llm=not os.environ.get("OPENAI_API_KEY"),
        )


class Stack:
    """Starts and supervises the whole local stack.

    Args:
        config: Where and how.
        services: The service table (defaults to every llmctl service); tests pass fakes.
    """

    def __init__(
        self, config: StackConfig, services: Sequence[ServiceSpec] = DEFAULT_SERVICES
    ) -> None:
        self.config = config
        self.home = config.home.resolve()
        self.specs = tuple(services)
        self.state_path = self.home / STATE_FILE
        self.infra = Infrastructure(
            self.home,
            nats_url=config.nats_url,
            database_url=config.database_url,
            demo_llm=config.demo_llm,
        )
        self.services: dict[str, ServiceProcess] = {}
        self.state = StackState(home=str(self.home), phase="stopped")
        self._next_restart: dict[str, float] = {}
        self._failures: dict[str, int] = {}

    @property
    def gateway_url(self) -> str:
        """Base URL of the gateway."""
        return f"http://{LOOPBACK}:{self.config.gateway_port}"

    def service(self, name: str) -> ServiceProcess:
        """Return a running service by name (KeyError when unknown)."""
        return self.services[name]

    def start(self) -> None:
        """Start infrastructure, run migrations, start every service, wait for health.

        On failure everything already started is stopped and ``state.json`` says ``failed``.

        Raises:
            StackError: Something did not start; the message names it with its log tail.
        """
        self.home.mkdir(parents=True, exist_ok=True)
        self.state = StackState(
            home=str(self.home),
            phase="starting",
            supervisor_pid=os.getpid(),
            supervisor_create_time=psutil.Process().create_time(),
            gateway_url=self.gateway_url,
        )
        self._write()
        try:
            self._start()
        except Exception as exc:
            self.stop(phase="failed", error=str(exc))
            if isinstance(exc, StackError):
                raise
            raise StackError(str(exc)) from exc
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        if any(s.gateway for s in self.specs) and port_is_open(self.config.gateway_port):
            raise StackError(
                f"gateway port {self.config.gateway_port} is already in use; "
                "choose another with --gateway-port"
            )
        endpoints = self.infra.start(self.config.gateway_port)
        endpoints = Endpoints(
            nats_url=endpoints.nats_url,
            database_url=endpoints.database_url,
            gateway_port=endpoints.gateway_port,
            demo_llm_url=endpoints.demo_llm_url,
            extra_env=self.config.extra_env,
        )
        self._write()
        run_migrations(self.specs, endpoints, self.home / "logs")
        for spec in self.specs:
            self.services[spec.name] = ServiceProcess(spec, endpoints, self.home / "logs")
        for service in self.services.values():
            service.start()
        self._write()
        for service in self.services.values():
            service.wait_healthy(self.config.health_timeout)
            self._write()
        self.state.phase = "running"
        self._write()

    def check(self) -> None:
        """One supervision round: restart what died (with backoff), mark what became healthy."""
        changed = bool(self.infra.revive())
        now = time.monotonic()
        for name, service in self.services.items():
            if service.process.running():
                if service.state in ("starting", "restarting") and service.healthy():
                    service.state = "running"
                    self._failures[name] = 0
                    changed = True
                continue
            if service.state != "failed":
                service.state = "failed"
                failures = self._failures.get(name, 0)
                delay = min(self.config.restart_backoff * 2**failures, 30.0)
                self._next_restart[name] = now + delay
                self._failures[name] = failures + 1
                changed = True
            elif now >= self._next_restart.get(name, now):
                service.restart()
                changed = True
        if changed:
            self._write()

    def supervise(self, stop: threading.Event, interval: float = 0.25) -> None:
        """Call :meth:`check` every ``interval`` seconds until ``stop`` is set."""
        while not stop.wait(interval):
            self.check()

    def stop(self, *, phase: str = "stopped", error: str | None = None) -> None:
        """Stop services (reverse start order), then demo model, Postgres, NATS."""
        self.state.phase = "stopping"
        self._write()
        for service in reversed(list(self.services.values())):
            service.stop()
        self.infra.stop()
        self.state.phase = phase
        self.state.error = error
        self._write()

    def _write(self) -> None:
        self.state.infra = self.infra.records()
        self.state.services = {name: s.record() for name, s in self.services.items()}
        self.state.write(self.state_path)

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@contextlib.contextmanager
def _interrupt_on_signals() -> Iterator[None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        raise StackInterrupted(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _ignore_signals() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)


def run_supervisor(
    config: StackConfig,
    services: Sequence[ServiceSpec] = DEFAULT_SERVICES,
    *,
    on_ready: Callable[[Stack], None] | None = None,
) -> int:
    """Run the stack in this process until SIGINT/SIGTERM, then stop it (main thread only).

    Args:
        config: Stack configuration.
        services: Service table.
        on_ready: Called once the stack is healthy (e.g. to print URLs).

    Returns:
        0 after a clean stop, 1 when the stack failed to start.
    """
    stack = Stack(config, services)
    try:
        with _interrupt_on_signals():
            try:
                stack.start()
            except StackError as exc:
                print(f"llmctl: stack failed to start: {exc}", flush=True)
                return 1
            if on_ready is not None:
                on_ready(stack)
            stack.supervise(threading.Event())
    except StackInterrupted:
        pass
    finally:
        if stack.state.phase not in ("stopped", "failed"):
            _ignore_signals()
            stack.stop()
    return 0
