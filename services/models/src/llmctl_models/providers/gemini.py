"""Gemini Developer API through ``google-genai`` (thinking config)."""

from __future__ import annotations

from llmctl_contracts.models import SettingField

from .base import ProviderSpec, schema_versions

__all__ = ["GEMINI", "GEMINI_GENERATION_FIELDS"]

GEMINI_GENERATION_FIELDS = [
    SettingField(
        name="temperature", type="number", description="Sampling temperature", minimum=0, maximum=2
    ),
    SettingField(
        name="max_output_tokens",
        type="integer",
        description="Upper bound on generated tokens",
        minimum=1,
        maximum=65_536,
    ),
    SettingField(
        name="thinking_budget",
        type="integer",
        description="Thinking tokens (-1: dynamic, 0: off)",
        minimum=-1,
        maximum=32_768,
        advanced=True,
    ),
    SettingField(
        name="include_thoughts",
        type="boolean",
        description="Return thought summaries",
        default=False,
        advanced=True,
    ),
]
"""Generation settings shared by Gemini and Vertex AI."""

GEMINI = ProviderSpec(
    name="gemini",
    display_name="Gemini (Developer API)",
    description="Google Gemini Developer API via google-genai",
    executor="frontier",
    secret="required",
    secret_hint="GEMINI_API_KEY",
    versions=schema_versions(list(GEMINI_GENERATION_FIELDS)),
)
