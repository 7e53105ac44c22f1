"""Vertex AI (Gemini on Google Cloud) through ``google-genai`` with ``vertexai=True``.

``project`` and ``location`` come from the model's settings; credentials from its credential
reference (:mod:`.vertex_credentials`). Generation settings and structured output as for the
Gemini Developer API (:mod:`.gemini_sdk`).
"""

from __future__ import annotations

from typing import Any

import google.auth.exceptions
from google import genai

from .base import CompletionRequest, ProviderUnavailable
from .gemini_sdk import GenaiAdapter, http_options
from .vertex_credentials import vertex_credentials

__all__ = ["DEFAULT_LOCATION", "VertexAdapter"]

DEFAULT_LOCATION = "us-central1"


def _project_location(request: CompletionRequest) -> tuple[str, str]:
    settings = request.model.settings
    project = settings.get("project")
    if not isinstance(project, str) or not project:
        raise ProviderUnavailable(
            f"vertex model {request.model.name!r} has no project in its settings"
        )
    location = settings.get("location")
    return project, location if isinstance(location, str) and location else DEFAULT_LOCATION


class VertexAdapter(GenaiAdapter):
    """Vertex AI: one client per (endpoint, credential, project, location)."""

    def _client_key(self, request: CompletionRequest) -> tuple[Any, ...]:
        return (*super()._client_key(request), *_project_location(request))

    def _new_client(self, request: CompletionRequest) -> genai.Client:
        model = request.model
        project, location = _project_location(request)
        credentials = vertex_credentials(model.api_key_ref)
        try:
            return genai.Client(
                vertexai=True,
                project=project,
                location=location,
                credentials=credentials,
                http_options=http_options(model.base_url),
            )
        except google.auth.exceptions.GoogleAuthError as exc:
            raise ProviderUnavailable(
                f"vertex model {model.name!r}: no credentials ({type(exc).__name__})"
            ) from exc

    async def complete(self, request: CompletionRequest) -> Any:
        try:
            return await super().complete(request)
        except google.auth.exceptions.GoogleAuthError as exc:
            raise ProviderUnavailable(
                f"vertex model {request.model.name!r}: credentials refused ({type(exc).__name__})"
            ) from exc
