"""OpenAI (and OpenAI-compatible endpoints) through the official ``openai`` SDK.

Schema v2 added ``verbosity`` and ``service_tier`` (and ``minimal`` reasoning effort); models
saved at v1 carry a drift notice naming them.
"""

from __future__ import annotations

from llmctl_contracts.models import SettingField

from .base import ProviderSpec, schema_versions

__all__ = ["OPENAI"]

_COMMON = [
    SettingField(
        name="temperature",
        type="number",
        description="Sampling temperature (not used by reasoning models)",
        minimum=0,
        maximum=2,
    ),
    SettingField(
        name="top_p",
        type="number",
        description="Nucleus sampling",
        minimum=0,
        maximum=1,
        advanced=True,
    ),
    SettingField(
        name="max_output_tokens",
        type="integer",
        description="Upper bound on generated tokens",
        minimum=1,
        maximum=200_000,
    ),
]

_V1 = [
    *_COMMON,
    SettingField(
        name="reasoning_effort",
        type="enum",
        description="Reasoning effort of reasoning models",
        choices=["low", "medium", "high"],
        advanced=True,
    ),
]

_V2 = [
    *_COMMON,
    SettingField(
        name="reasoning_effort",
        type="enum",
        description="Reasoning effort of reasoning models",
        choices=["minimal", "low", "medium", "high"],
        advanced=True,
    ),
    SettingField(
        name="verbosity",
        type="enum",
        description="How long answers should be",
        choices=["low", "medium", "high"],
        advanced=True,
    ),
    SettingField(
        name="service_tier",
        type="enum",
        description="Processing tier",
        choices=["auto", "default", "flex", "priority"],
        default="auto",
        advanced=True,
    ),
]

OPENAI = ProviderSpec(
    name="openai",
    display_name="OpenAI",
    description="OpenAI API or any OpenAI-compatible endpoint (set base_url)",
    executor="frontier",
    secret="required",
    secret_hint="OPENAI_API_KEY",
    versions=schema_versions(_V1, _V2),
)
