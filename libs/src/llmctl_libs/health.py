"""A minimal HTTP health endpoint (``GET /healthz``) for process supervisors and Kubernetes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from llmctl_contracts import encode
from llmctl_contracts.rpc import HealthReport

__all__ = ["HealthCheck", "HealthServer"]

HealthCheck = Callable[[], Awaitable[HealthReport]]


class HealthServer:
    """Answers ``GET /healthz`` with the service's :class:`HealthReport` (200 or 503)."""

    def __init__(self, check: HealthCheck, *, port: int, host: str = "127.0.0.1") -> None:
        self._check = check
        self._port = port
        self._host = host
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        """Listen (no-op when the port is 0)."""
        if self._port:
            self._server = await asyncio.start_server(self._handle, self._host, self._port)

    async def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = await asyncio.wait_for(reader.readline(), timeout=5)
            while (await asyncio.wait_for(reader.readline(), timeout=5)) not in (b"\r\n", b""):
                pass
            parts = request_line.decode("latin-1").split()
            if len(parts) >= 2 and parts[0] == "GET" and parts[1].split("?")[0] == "/healthz":
                report = await self._check()
                status = "200 OK" if report.healthy else "503 Service Unavailable"
                body = encode(report)
            else:
                status, body = "404 Not Found", b'{"ok":false}'
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
