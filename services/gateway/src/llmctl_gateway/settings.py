"""Gateway settings read from the environment (``LLMCTL_*``)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

__all__ = ["DEFAULT_SERVICES", "GatewaySettings"]

DEFAULT_SERVICES: tuple[str, ...] = (
    "orchestrator",
    "router",
    "toolhub",
    "models",
    "executor-frontier",
)
"""Services whose ``health`` RPC the gateway's health endpoint aggregates."""


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    """Everything the gateway process is configured with.

    Attributes:
        host: ``LLMCTL_GATEWAY_HOST``: interface uvicorn binds.
        port: ``LLMCTL_GATEWAY_PORT``: TCP port uvicorn binds.
        nats_url: ``LLMCTL_NATS_URL``: NATS server URL(s), comma separated.
        allowed_origins: ``LLMCTL_GATEWAY_ALLOWED_ORIGINS``: extra websocket origins allowed
            besides same-host and localhost ones (comma separated, e.g.
            ``https://studio.example.com``).
        rpc_timeout: Seconds to wait for an orchestrator reply before answering 504.
        health_timeout: Seconds to wait for each service's health reply.
        services: ``LLMCTL_GATEWAY_SERVICES``: services the health endpoint asks (comma
            separated; default every service).
        ws_send_queue: ``LLMCTL_GATEWAY_WS_SEND_QUEUE``: frames buffered per websocket client
            before it is disconnected as too slow.
        ws_send_timeout: ``LLMCTL_GATEWAY_WS_SEND_TIMEOUT``: seconds a full send queue may stay
            full before the client is disconnected as too slow.
        ws_max_subscriptions: Run subscriptions one websocket client may hold at once.
        ws_gap_grace: Seconds an out-of-order event is held before the missing ones are fetched
            from the orchestrator.
        history_page: Events fetched per ``run.events`` request.
        debug: Litestar debug mode (never enable in production: it shows tracebacks).
    """

    host: str = "127.0.0.1"
    port: int = 8080
    nats_url: str = "nats://127.0.0.1:4222"
    allowed_origins: tuple[str, ...] = ()
    rpc_timeout: float = 10.0
    health_timeout: float = 2.0
    services: tuple[str, ...] = DEFAULT_SERVICES
    ws_send_queue: int = 1024
    ws_send_timeout: float = 5.0
    ws_max_subscriptions: int = 64
    ws_gap_grace: float = 0.25
    history_page: int = 500
    debug: bool = field(default=False)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> GatewaySettings:
        """Read settings from ``environ`` (default ``os.environ``)."""
        env = dict(os.environ if environ is None else environ)
        return cls(
            host=env.get("LLMCTL_GATEWAY_HOST", "127.0.0.1"),
            port=int(env.get("LLMCTL_GATEWAY_PORT", "8080")),
            nats_url=env.get("LLMCTL_NATS_URL", "nats://127.0.0.1:4222"),
            allowed_origins=_split(env.get("LLMCTL_GATEWAY_ALLOWED_ORIGINS", "")),
            rpc_timeout=float(env.get("LLMCTL_GATEWAY_RPC_TIMEOUT", "10")),
            health_timeout=float(env.get("LLMCTL_GATEWAY_HEALTH_TIMEOUT", "2")),
            services=_split(env.get("LLMCTL_GATEWAY_SERVICES", "")) or DEFAULT_SERVICES,
            ws_send_queue=int(env.get("LLMCTL_GATEWAY_WS_SEND_QUEUE", "1024")),
            ws_send_timeout=float(env.get("LLMCTL_GATEWAY_WS_SEND_TIMEOUT", "5")),
        )
