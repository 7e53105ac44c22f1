"""A small synchronous client for the gateway REST API and its error envelope."""

from __future__ import annotations

from typing import Any

import httpx

from llmctl_infra.cli._common import CliError

__all__ = ["ApiError", "GatewayClient", "format_error"]


def format_error(status: int, body: Any) -> str:
    """Render the shared error envelope (or any other body) as readable text."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return f"gateway answered HTTP {status}: {str(body)[:500]}"
    lines = [f"{error.get('code', 'error')}: {error.get('message', '')} (HTTP {status})"]
    for detail in error.get("details") or []:
        if isinstance(detail, dict):
            lines.append(f"  - {detail.get('field', '?')}: {detail.get('reason', '')}")
        else:
            lines.append(f"  - {detail}")
    ids = [
        f"{key}={value}"
        for key, value in (
            ("request_id", error.get("request_id")),
            ("correlation_id", body.get("correlation_id")),
        )
        if value
    ]
    if ids:
        lines.append(f"  ({', '.join(ids)})")
    return "\n".join(lines)


class ApiError(CliError):
    """The gateway answered with an error."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(format_error(status, body))
        self.status = status
        self.body = body


class GatewayClient:
    """Calls ``/api/v1`` and unwraps ``{ok: true, data: ...}``.

    Args:
        base_url: Gateway base URL (``http://127.0.0.1:8080``).
        timeout: Per-request timeout in seconds.
    """

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(base_url=self.base_url, timeout=timeout)

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """Send a request and return the envelope's ``data``.

        Raises:
            ApiError: The gateway answered with an error.
            CliError: The gateway could not be reached.
        """
        try:
            response = self._client.request(method, path, json=json, headers=headers)
        except httpx.HTTPError as exc:
            raise CliError(
                f"cannot reach the gateway at {self.base_url} ({exc}); is the stack up? (llmctl up)"
            ) from exc
        try:
            body = response.json()
        except ValueError:
            body = response.text
        if response.is_error or (isinstance(body, dict) and body.get("ok") is False):
            raise ApiError(response.status_code, body)
        if isinstance(body, dict) and "data" in body:
            return body["data"]
        return body
