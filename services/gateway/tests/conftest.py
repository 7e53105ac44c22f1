"""Fixtures: a real nats-server, a stub orchestrator on the real bus, a real uvicorn gateway."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import httpx
import pytest
import uvicorn

from llmctl_gateway.__main__ import WS_PROTOCOL
from llmctl_gateway.app import create_app
from llmctl_gateway.settings import GatewaySettings
from llmctl_libs.bus import Bus


def _load_testkit() -> ModuleType:
    """Load ``gateway_testkit.py`` under a unique name (test dirs are not packages)."""
    name = "gateway_testkit"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_testkit = _load_testkit()

if TYPE_CHECKING:
    from gateway_testkit import StubOrchestrator, serve_health
else:
    StubOrchestrator = _testkit.StubOrchestrator
    serve_health = _testkit.serve_health

NATS_SERVER = Path(__file__).resolve().parents[3] / ".venv" / "bin" / "nats-server"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"nats-server exited with {proc.returncode}")
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError("nats-server did not start")


@pytest.fixture(scope="session")
def gateway_nats_url() -> Iterator[str]:
    """A real JetStream-enabled nats-server on a free port, stopped by PID at teardown."""
    binary = str(NATS_SERVER) if NATS_SERVER.exists() else shutil.which("nats-server")
    assert binary, "nats-server binary not found"
    store = tempfile.mkdtemp(prefix="gateway-nats-")
    port = _free_port()
    proc = subprocess.Popen(
        [binary, "-js", "-sd", store, "-a", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port, proc)
        yield f"nats://127.0.0.1:{port}"
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        shutil.rmtree(store, ignore_errors=True)


@pytest.fixture(scope="session")
async def gateway_bus(gateway_nats_url: str) -> AsyncIterator[Bus]:
    """The gateway's own bus (started by the test, not by the app)."""
    bus = Bus(gateway_nats_url, service="gateway")
    await bus.start()
    yield bus
    await bus.stop()


@pytest.fixture(scope="session")
def gateway_settings(gateway_nats_url: str) -> GatewaySettings:
    """Settings with short timeouts so timeout paths are quick to test."""
    return GatewaySettings(
        nats_url=gateway_nats_url,
        rpc_timeout=1.0,
        health_timeout=0.5,
        ws_gap_grace=0.2,
        history_page=3,
        allowed_origins=("https://studio.example.com",),
    )


async def _serve(app: object) -> tuple[uvicorn.Server, asyncio.Task[None], int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    config = uvicorn.Config(app, lifespan="on", ws=WS_PROTOCOL, log_level="warning")  # type: ignore[arg-type]
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.02)
    assert server.started
    return server, task, port


@pytest.fixture(scope="session")
async def gateway_url(gateway_bus: Bus, gateway_settings: GatewaySettings) -> AsyncIterator[str]:
    """Base URL of a real uvicorn server running the gateway app."""
    server, task, port = await _serve(create_app(gateway_bus, gateway_settings))
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


@pytest.fixture
async def http(gateway_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the gateway."""
    async with httpx.AsyncClient(base_url=gateway_url, timeout=10.0) as client:
        yield client


@pytest.fixture
async def orchestrator(gateway_nats_url: str) -> AsyncIterator[StubOrchestrator]:
    """Stub orchestrator RPC responders on the real bus (per test)."""
    bus = Bus(gateway_nats_url, service="orchestrator")
    stub = StubOrchestrator(bus)
    stub.register()
    await bus.start()
    await bus.nc.flush()
    yield stub
    await bus.stop()


@pytest.fixture
async def healthy_services(gateway_nats_url: str) -> AsyncIterator[None]:
    """Every service answers ``health`` (healthy) for the duration of a test."""
    bus = Bus(gateway_nats_url, service="health-stub")
    serve_health(bus, ("orchestrator", "router", "toolhub", "models", "executor-frontier"))
    await bus.start()
    await bus.nc.flush()
    yield
    await bus.stop()
