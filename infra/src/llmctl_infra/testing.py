"""Test helpers: fake services, in-process ASGI servers, service processes, databases.

Used by the root ``conftest.py`` fixtures and by cross-service end-to-end tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn

from llmctl_contracts import Envelope, MessageKind, MessageType
from llmctl_contracts.rpc import ControlRun
from llmctl_infra._wait import WaitTimeout, wait_until
from llmctl_infra.demo_llm import BeforeCompletion, CompletionStats, create_app, stats_of
from llmctl_infra.ports import LOOPBACK, free_port
from llmctl_infra.service import Endpoints, ServiceProcess, run_migrations
from llmctl_infra.specs import DEFAULT_SERVICES, ServiceSpec
from llmctl_libs.messages import Trace, make_envelope
from llmctl_libs.store.driver_pool import libpq_url

__all__ = [
    "DemoLLMHandle",
    "ServiceProcesses",
    "WaitTimeout",
    "async_wait_until",
    "control_command",
    "create_database",
    "demo_llm_server",
    "fake_service_spec",
    "serve_asgi",
    "unique_database_name",
    "wait_until",
]


def control_command(request: ControlRun) -> Envelope:
    """A ``run.control`` command as a program publishes it on ``subjects.control_command()``,
    keyed by run and request id."""
    return make_envelope(
        MessageType.CONTROL_RUN,
        request,
        trace=Trace(correlation_id=request.request_id),
        idempotency_key=f"control:{request.run_id}:{request.request_id}",
        kind=MessageKind.COMMAND,
        run_id=request.run_id,
    )


def fake_service_spec(
    name: str,
    *,
    gateway: bool = False,
    migrate: bool = False,
    env: Mapping[str, str] | None = None,
) -> ServiceSpec:
    """A :class:`ServiceSpec` running :mod:`llmctl_infra._fake_service` (health only).

    Args:
        name: Service name.
        gateway: Behave as the gateway (listen on the gateway port, ``/api/v1/health``).
        migrate: Take part in migrations (``LLMCTL_FAKE_FAIL_MIGRATE=1`` in env fails them).
        env: Extra environment (``LLMCTL_FAKE_EXIT_CODE`` makes it exit at once).
    """
    return ServiceSpec(
        name,
        (sys.executable, "-m", "llmctl_infra._fake_service"),
        migrate=migrate,
        gateway=gateway,
        health_path="/api/v1/health" if gateway else "/healthz",
        env=dict(env or {}),
    )


async def async_wait_until(
    condition: Callable[[], bool | Awaitable[bool]],
    *,
    timeout: float,
    what: str,
    interval: float = 0.05,
) -> None:
    """Await until ``condition()`` (sync or async) is true, without blocking the loop.

    Raises:
        WaitTimeout: The deadline passed.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"{what}: timed out after {timeout:.0f}s")
        await asyncio.sleep(interval)


@contextlib.asynccontextmanager
async def serve_asgi(app: Any, *, port: int | None = None) -> AsyncIterator[str]:
    """Serve an ASGI app with uvicorn on the running event loop.

    Args:
        app: The ASGI application.
        port: Port to bind; a free one when None.

    Yields:
        The base URL (``http://127.0.0.1:PORT``).
    """
    port = port or free_port()
    config = uvicorn.Config(app, host=LOOPBACK, port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        await async_wait_until(
            lambda: server.started or task.done(), timeout=30, what="uvicorn start"
        )
        if task.done():
            await task
            raise RuntimeError(f"uvicorn did not start on port {port}")
        yield f"http://{LOOPBACK}:{port}"
    finally:
        server.should_exit = True
        await task


@dataclass(frozen=True, slots=True)
class DemoLLMHandle:
    """A running in-process demo model.

    Attributes:
        base_url: OpenAI base URL (``http://127.0.0.1:PORT/v1``).
        stats: Its request/completion counters.
        app: The Litestar app.
    """

    base_url: str
    stats: CompletionStats
    app: Any


@contextlib.asynccontextmanager
async def demo_llm_server(
    before_completion: BeforeCompletion | None = None,
) -> AsyncIterator[DemoLLMHandle]:
    """Run the offline demo model in-process on the current loop (for gating completions).

    Args:
        before_completion: Awaited with each request body before it is answered.

    Yields:
        A :class:`DemoLLMHandle`.
    """
    app = create_app(before_completion=before_completion)
    async with serve_asgi(app) as url:
        yield DemoLLMHandle(base_url=f"{url}/v1", stats=stats_of(app), app=app)


def unique_database_name(prefix: str = "t") -> str:
    """A fresh database name (``<prefix>_<hex>``)."""
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


def create_database(admin_url: str, name: str) -> str:
    """Create database ``name`` on the server of ``admin_url`` and return its SQLAlchemy URL.

    Args:
        admin_url: SQLAlchemy URL of any database on that server (``postgresql+psycopg://``).
        name: New database name (a plain identifier).
    """
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(admin_url)
    with psycopg.connect(libpq_url(admin_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"'.encode())
    return url.set(database=name).render_as_string(hide_password=False)


def _resolve_specs(services: Sequence[ServiceSpec | str]) -> list[ServiceSpec]:
    table = {spec.name: spec for spec in DEFAULT_SERVICES}
    return [table[s] if isinstance(s, str) else s for s in services]


class ServiceProcesses:
    """Run chosen services as processes against given NATS/Postgres, for end-to-end tests.

    Each service gets its own health port (kept across restarts) and ``<log_dir>/<name>.log``.
    Nothing restarts automatically: the test decides (``kill`` then ``start``).

    Args:
        services: Specs, or names from :data:`~llmctl_infra.specs.DEFAULT_SERVICES`.
        nats_url: NATS URL.
        database_url: SQLAlchemy URL.
        log_dir: Log directory.
        demo_llm_url: OpenAI base URL passed as ``LLMCTL_DEMO_LLM_URL``.
        gateway_port: Gateway port; a free one when None.
        extra_env: Added to every service's environment.
    """

    def __init__(
        self,
        services: Sequence[ServiceSpec | str],
        *,
        nats_url: str,
        database_url: str,
        log_dir: Path,
        demo_llm_url: str | None = None,
        gateway_port: int | None = None,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        self.specs = _resolve_specs(services)
        self.log_dir = log_dir
        self.endpoints = Endpoints(
            nats_url=nats_url,
            database_url=database_url,
            gateway_port=gateway_port or free_port(),
            demo_llm_url=demo_llm_url,
            extra_env=dict(extra_env or {}),
        )
        self.services = {s.name: ServiceProcess(s, self.endpoints, log_dir) for s in self.specs}

    @property
    def gateway_url(self) -> str:
        """Base URL of the gateway (when one of the services is the gateway)."""
        return f"http://{LOOPBACK}:{self.endpoints.gateway_port}"

    def migrate(self) -> None:
        """Run every migrating service's ``migrate`` command.

        Raises:
            MigrationError: One failed.
        """
        run_migrations(self.specs, self.endpoints, self.log_dir)

    def start_all(self, timeout: float = 120.0) -> None:
        """Migrate, start every service, and wait until all are healthy.

        If one fails to start or to become healthy, every service started is stopped before
        the error propagates: callers stop the stack only once ``start_all`` returned, so a
        failed start would otherwise leave the rest running.
        """
        self.migrate()
        try:
            for service in self.services.values():
                service.start()
            for service in self.services.values():
                service.wait_healthy(timeout)
        except BaseException:
            self.stop_all()
            raise

    def start(self, name: str, *, wait: bool = True, timeout: float = 60.0) -> None:
        """(Re)start one service, by default waiting until it is healthy."""
        service = self.services[name]
        service.start()
        if wait:
            service.wait_healthy(timeout)

    def service(self, name: str) -> ServiceProcess:
        """The :class:`ServiceProcess` of ``name``."""
        return self.services[name]

    def pid(self, name: str) -> int:
        """PID of a started service.

        Raises:
            RuntimeError: It was never started.
        """
        pid = self.services[name].pid
        if pid is None:
            raise RuntimeError(f"{name} was never started")
        return pid

    def kill(self, name: str) -> None:
        """SIGKILL one service and reap it."""
        self.services[name].kill()

    def stop(self, name: str) -> None:
        """SIGTERM one service and wait for it."""
        self.services[name].stop()

    def wait_healthy(self, name: str, timeout: float = 60.0) -> None:
        """Block until ``name`` answers its health check."""
        self.services[name].wait_healthy(timeout)

    async def await_healthy(self, name: str, timeout: float = 60.0) -> None:
        """Like :meth:`wait_healthy` without blocking the event loop."""
        await asyncio.to_thread(self.services[name].wait_healthy, timeout)

    def log_tail(self, name: str, lines: int = 40) -> str:
        """The last lines of a service's log."""
        return self.services[name].process.log_tail(lines)

    def stop_all(self) -> None:
        """Stop every service, last started first."""
        for service in reversed(list(self.services.values())):
            service.stop()

    def __enter__(self) -> ServiceProcesses:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop_all()
