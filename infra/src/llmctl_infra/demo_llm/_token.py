"""An OAuth2 token endpoint for service-account JWT-bearer grants (offline Vertex AI tests).

The assertion's signature is not verified (the demo model holds no public keys); its claims
are decoded to name the service account in the issued token, so a test can tell which
credential the executor used.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

__all__ = ["JWT_BEARER_GRANT", "issue_token", "service_account_token"]

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def service_account_token(client_email: str) -> str:
    """The access token the endpoint issues for ``client_email``."""
    return f"demo-sa-token-{client_email}"


def _claims(assertion: str) -> dict[str, Any] | None:
    parts = assertion.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except ValueError:
        return None
    return claims if isinstance(claims, dict) else None


def issue_token(form: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
    """Answer a token request: ``(status, body)``."""
    if form.get("grant_type") != JWT_BEARER_GRANT:
        return 400, {"error": "unsupported_grant_type"}
    claims = _claims(str(form.get("assertion", "")))
    if claims is None or not isinstance(claims.get("iss"), str):
        return 400, {"error": "invalid_grant", "error_description": "malformed assertion"}
    return 200, {
        "access_token": service_account_token(claims["iss"]),
        "token_type": "Bearer",
        "expires_in": 3600,
    }
