"""Vertex AI (Gemini models on Google Cloud): project, location and a credentials reference.

The credentials reference is the model's ``secret_ref`` (a service-account key file: ``env``
names a variable holding its path or content, ``secret`` a mounted secret); without one the
executor uses Application Default Credentials.
"""

from __future__ import annotations

from llmctl_contracts.models import SettingField

from .base import ProviderSpec, schema_versions
from .gemini import GEMINI_GENERATION_FIELDS

__all__ = ["VERTEX"]

VERTEX = ProviderSpec(
    name="vertex",
    display_name="Vertex AI",
    description="Gemini models on Google Cloud Vertex AI",
    executor="frontier",
    secret="optional",
    secret_hint="GOOGLE_APPLICATION_CREDENTIALS",
    versions=schema_versions(
        [
            SettingField(
                name="project",
                type="string",
                description="Google Cloud project id",
                required=True,
            ),
            SettingField(
                name="location",
                type="string",
                description="Vertex AI region",
                default="us-central1",
            ),
            *GEMINI_GENERATION_FIELDS,
        ]
    ),
)
