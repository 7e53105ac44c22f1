"""``llmctl-gateway``: serve the gateway with uvicorn (SIGTERM/SIGINT shut it down cleanly)."""

from __future__ import annotations

import logging
import os
import signal
from types import FrameType

import uvicorn

from llmctl_libs import event_loop

from .app import create_app
from .settings import GatewaySettings

__all__ = ["main", "server"]

WS_PROTOCOL = "websockets-sansio"
HTTP_PROTOCOL = "httptools"
"""uvicorn's C HTTP parser (h11, the pure-Python one, cost the gateway about a quarter of its CPU
under run starts and reads)."""


def server(settings: GatewaySettings) -> uvicorn.Server:
    """A uvicorn server for the gateway; its app owns a bus built from ``settings``.

    uvicorn installs SIGTERM/SIGINT handlers while serving: open requests finish, websockets
    are closed, then the lifespan stops the bus.
    """
    config = uvicorn.Config(
        create_app(None, settings),
        host=settings.host,
        port=settings.port,
        lifespan="on",
        http=HTTP_PROTOCOL,
        ws=WS_PROTOCOL,
        proxy_headers=False,
        server_header=False,
        log_level=os.environ.get("LLMCTL_LOG_LEVEL", "info").lower(),
        timeout_graceful_shutdown=10,
    )
    return uvicorn.Server(config)


def _stopped(signum: int, frame: FrameType | None) -> None:
    logging.getLogger(__name__).info("gateway stopped by signal %d", signum)


def main() -> None:
    """Console entry point: settings from the environment, serve until signalled."""
    logging.basicConfig(
        level=os.environ.get("LLMCTL_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    settings = GatewaySettings.from_env()
    instance = server(settings)
    # uvicorn handles SIGTERM/SIGINT while serving (graceful shutdown), then re-raises the
    # signal against the previous handlers; make those no-ops so a requested stop exits 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _stopped)
    event_loop.run(instance.serve())
    if not instance.started:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
