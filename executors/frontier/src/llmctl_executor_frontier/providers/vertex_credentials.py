"""Vertex AI credentials from a model's credential reference.

The referenced value (environment variable or mounted secret, see
:func:`llmctl_libs.credentials.read_credential`) is one of:

* a service-account key as JSON (``{"type": "service_account", ...}``);
* the path of such a key file (what ``GOOGLE_APPLICATION_CREDENTIALS`` holds);
* otherwise an OAuth2 access token, used as is (``Authorization: Bearer <token>``).

No reference means Application Default Credentials (``google-genai`` resolves them).
Service-account tokens are fetched from the key's ``token_uri`` (tests point it at the demo
model's ``/token``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import google.auth.credentials
from google.oauth2 import credentials as oauth2_credentials
from google.oauth2 import service_account

from llmctl_libs.credentials import read_credential

from .base import ProviderUnavailable

__all__ = ["CLOUD_PLATFORM_SCOPE", "vertex_credentials"]

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"


def _service_account_info(value: str) -> dict[str, Any] | None:
    text = value
    if not value.lstrip().startswith("{"):
        path = Path(value)
        try:
            if not path.is_file():
                return None
            text = path.read_text()
        except OSError:
            return None
    try:
        info = json.loads(text)
    except ValueError as exc:
        raise ProviderUnavailable("the Vertex AI credential is not valid JSON") from exc
    if not isinstance(info, dict) or info.get("type") != "service_account":
        raise ProviderUnavailable("the Vertex AI credential is not a service-account key")
    return info


def vertex_credentials(api_key_ref: str | None) -> google.auth.credentials.Credentials | None:
    """Credentials for a Vertex AI model (``None``: Application Default Credentials).

    Raises:
        ProviderUnavailable: the reference is set but names nothing, or a key is malformed.
    """
    if api_key_ref is None:
        return None
    value = read_credential(api_key_ref)
    if not value:
        raise ProviderUnavailable(
            f"credential reference {api_key_ref!r} is not set in the executor environment"
        )
    info = _service_account_info(value)
    if info is None:
        return oauth2_credentials.Credentials(token=value)  # type: ignore[no-untyped-call]
    try:
        return service_account.Credentials.from_service_account_info(  # type: ignore[no-any-return,no-untyped-call]
            info, scopes=[CLOUD_PLATFORM_SCOPE]
        )
    except (ValueError, KeyError) as exc:
        raise ProviderUnavailable(
            f"the Vertex AI service-account key is incomplete: {type(exc).__name__}"
        ) from exc
