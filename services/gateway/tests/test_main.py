"""The ``llmctl-gateway`` process starts from env, serves, and exits cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys

import httpx
import pytest

pytestmark = pytest.mark.timeout(60)


async def test_process_serves_and_stops_on_sigterm(gateway_nats_url: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    env = {
        **os.environ,
        "LLMCTL_NATS_URL": gateway_nats_url,
        "LLMCTL_GATEWAY_PORT": str(port),
        "LLMCTL_GATEWAY_HEALTH_TIMEOUT": "0.2",
        "LLMCTL_LOG_LEVEL": "WARNING",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "llmctl_gateway",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            for _ in range(200):
                try:
                    response = await http.get("/api/v1/health")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
            else:
                pytest.fail("gateway did not start")
        assert response.status_code == 503  # no services in this test
        assert response.json()["data"]["services"]["gateway"]["healthy"] is True
    finally:
        if proc.returncode is None:
            os.kill(proc.pid, signal.SIGTERM)
        _, stderr = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0, stderr.decode()
    assert b"Traceback" not in stderr
