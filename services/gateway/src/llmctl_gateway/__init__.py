"""llmctl gateway: REST API, run-event websockets and the Studio UI, on Litestar."""

from .app import create_app
from .openapi import openapi_document
from .settings import GatewaySettings

__all__ = ["GatewaySettings", "create_app", "openapi_document"]
