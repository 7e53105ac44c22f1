"""Model endpoints answer 503 ``unavailable`` in the shared envelope when the models service
is not running (nothing answers on the bus)."""

from __future__ import annotations

import httpx
import pytest
from gateway_testkit import assert_error


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/v1/providers", None),
        ("GET", "/api/v1/models", None),
        ("GET", "/api/v1/models/some-model", None),
        ("POST", "/api/v1/models", {"name": "m", "provider": "vllm", "provider_model_id": "x"}),
        ("DELETE", "/api/v1/models/some-model", None),
        ("GET", "/api/v1/runtime-settings", None),
    ],
)
async def test_models_service_down_is_503(
    http: httpx.AsyncClient, method: str, path: str, body: object
) -> None:
    response = await http.request(method, path, json=body)
    error = assert_error(response, 503, "unavailable")
    assert "models" in error["error"]["message"]
