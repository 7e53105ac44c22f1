"""OpenAPI 3.1 configuration and the document itself (for snapshot tests and export)."""

from __future__ import annotations

from typing import Any

from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import OpenAPIType, Schema

from .schemas import MAX_REASON_LENGTH

__all__ = [
    "API_VERSION",
    "CONTROL_RUN_BODY_SCHEMA",
    "NODE_RUN_CONTROL_BODY_SCHEMA",
    "NODE_RUN_REASON_BODY_SCHEMA",
    "START_RUN_BODY_SCHEMA",
    "openapi_config",
    "openapi_document",
    "openapi_json",
]

API_VERSION = "1.0.0"

START_RUN_BODY_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    title="StartRunBody",
    description="Body of `POST /api/v1/runs`; send `Idempotency-Key` to make it idempotent.",
    properties={
        "flowchart_id": Schema(type=OpenAPIType.STRING, min_length=1, max_length=128),
        "input": Schema(
            type=OpenAPIType.OBJECT, additional_properties=True, description="Run input"
        ),
    },
    required=["flowchart_id"],
    additional_properties=False,
)
"""Inline schema of :class:`~llmctl_gateway.schemas.StartRunBody` (decoded by the handler)."""


_REASON_SCHEMA = Schema(
    one_of=[
        Schema(type=OpenAPIType.STRING, max_length=MAX_REASON_LENGTH),
        Schema(type=OpenAPIType.NULL),
    ],
    description="Why; recorded in the run's `run.controlled` event",
)

CONTROL_RUN_BODY_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    title="ControlRunBody",
    description=(
        "Optional body of `POST /api/v1/runs/{run_id}/pause|resume|cancel`;"
        " an empty body is the same as `{}`."
    ),
    properties={"reason": _REASON_SCHEMA},
    additional_properties=False,
)
"""Inline schema of :class:`~llmctl_gateway.schemas.ControlRunBody` (decoded by the handler)."""


NODE_RUN_REASON_BODY_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    title="NodeRunReasonBody",
    description=(
        "Optional body of `POST /api/v1/runs/{run_id}/node-runs/{node_run_id}/retry|rewind`;"
        " an empty body is the same as `{}`."
    ),
    properties={"reason": _REASON_SCHEMA},
    additional_properties=False,
)
"""Body of retry and rewind: a reason only (``output`` is refused, it is for ``skip``)."""


NODE_RUN_CONTROL_BODY_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    title="NodeRunControlBody",
    description=(
        "Optional body of `POST /api/v1/runs/{run_id}/node-runs/{node_run_id}/skip`;"
        " an empty body is the same as `{}`."
    ),
    properties={
        "reason": _REASON_SCHEMA,
        "output": Schema(
            one_of=[
                Schema(type=OpenAPIType.OBJECT, additional_properties=True),
                Schema(type=OpenAPIType.NULL),
            ],
            description="`skip` only: the output the skipped node run routes with (default {})",
        ),
    },
    additional_properties=False,
)
"""Inline schema of :class:`~llmctl_gateway.schemas.NodeRunControlBody`."""


def openapi_config() -> OpenAPIConfig:
    """The gateway's OpenAPI configuration (served under ``/schema``)."""
    return OpenAPIConfig(
        title="llmctl gateway",
        version=API_VERSION,
        description="REST API of the llmctl Studio runtime. Websocket: `/api/v1/ws`.",
        path="/schema",
    )


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the gateway's REST API, as a JSON-ready dict."""
    from .app import create_app  # local: app imports this module
    from .settings import GatewaySettings

    app = create_app(None, GatewaySettings())
    return app.openapi_schema.to_schema()


def openapi_json() -> str:
    """The OpenAPI document as stable JSON text (sorted keys), as kept in docs/reference/."""
    import json

    import msgspec

    return json.dumps(msgspec.to_builtins(openapi_document()), indent=2, sort_keys=True) + "\n"
