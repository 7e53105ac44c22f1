"""The Litestar application: REST API, websocket, placeholder UI, errors in one envelope."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar, Router
from litestar.datastructures import State

from llmctl_libs.bus import Bus

from .artifact_routes import ARTIFACT_ROUTE_HANDLERS
from .context import add_id_headers
from .errors import EXCEPTION_HANDLERS, MAX_REQUEST_BODY_BYTES
from .flowchart_routes import FLOWCHART_ROUTE_HANDLERS
from .model_routes import MODEL_ROUTE_HANDLERS
from .openapi import openapi_config
from .openapi_structs import StrictStructSchemaPlugin
from .page import index
from .routes import ROUTE_HANDLERS
from .routing_routes import ROUTING_ROUTE_HANDLERS
from .settings import GatewaySettings
from .ws import run_events_socket

__all__ = ["API_PREFIX", "create_app"]

API_PREFIX = "/api/v1"


def create_app(bus: Bus | None, settings: GatewaySettings | None = None) -> Litestar:
    """Build the gateway application.

    Args:
        bus: A bus the caller starts and stops; ``None`` makes the app create one from
            ``settings.nats_url`` and own it (started at start-up, stopped at shutdown).
        settings: Gateway settings; default :meth:`GatewaySettings.from_env`.

    Returns:
        The Litestar app; ``app.state.bus`` and ``app.state.settings`` hold its bus and settings.
    """
    resolved = settings if settings is not None else GatewaySettings.from_env()

    @asynccontextmanager
    async def owned_bus(app: Litestar) -> AsyncIterator[None]:
        if app.state.get("bus") is not None:
            yield
            return
        own = Bus(resolved.nats_url, service="gateway")
        await own.start()
        app.state.bus = own
        try:
            yield
        finally:
            app.state.bus = None
            await own.stop()

    @asynccontextmanager
    async def shared_hubs(app: Litestar) -> AsyncIterator[None]:
        try:
            yield
        finally:
            for hub in dict(app.state.get("hubs") or {}).values():
                await hub.stop()

    api = Router(
        path=API_PREFIX,
        route_handlers=[
            *ROUTE_HANDLERS,
            *FLOWCHART_ROUTE_HANDLERS,
            *ARTIFACT_ROUTE_HANDLERS,
            *MODEL_ROUTE_HANDLERS,
            *ROUTING_ROUTE_HANDLERS,
            run_events_socket,
        ],
    )
    return Litestar(
        route_handlers=[api, index],
        exception_handlers=EXCEPTION_HANDLERS,
        before_send=[add_id_headers],
        lifespan=[owned_bus, shared_hubs],
        openapi_config=openapi_config(),
        plugins=[StrictStructSchemaPlugin()],
        request_max_body_size=MAX_REQUEST_BODY_BYTES,
        state=State({"bus": bus, "settings": resolved, "hubs": {}}),
        debug=resolved.debug,
    )
