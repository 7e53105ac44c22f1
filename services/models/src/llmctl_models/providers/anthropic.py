"""Anthropic through the official ``anthropic`` SDK (extended thinking budget)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llmctl_contracts import FieldError
from llmctl_contracts.models import SettingField

from .base import ProviderSpec, schema_versions

__all__ = ["ANTHROPIC"]


def _thinking(settings: Mapping[str, Any], _: str | None) -> list[FieldError]:
    budget = settings.get("thinking_budget_tokens")
    if budget is None:
        return []
    if not settings.get("thinking_enabled"):
        return [
            FieldError(
                field="$.settings.thinking_budget_tokens",
                reason="only allowed when thinking_enabled is true",
            )
        ]
    if budget >= settings["max_tokens"]:
        return [
            FieldError(
                field="$.settings.thinking_budget_tokens",
                reason=f"must be less than max_tokens ({settings['max_tokens']})",
            )
        ]
    return []


ANTHROPIC = ProviderSpec(
    name="anthropic",
    display_name="Anthropic",
    description="Anthropic Messages API",
    executor="frontier",
    secret="required",
    secret_hint="ANTHROPIC_API_KEY",
    versions=schema_versions(
        [
            SettingField(
                name="max_tokens",
                type="integer",
                description="Upper bound on generated tokens",
                default=4096,
                minimum=1,
                maximum=128_000,
            ),
            SettingField(
                name="temperature",
                type="number",
                description="Sampling temperature",
                minimum=0,
                maximum=1,
            ),
            SettingField(
                name="thinking_enabled",
                type="boolean",
                description="Extended thinking",
                default=False,
                advanced=True,
            ),
            SettingField(
                name="thinking_budget_tokens",
                type="integer",
                description="Tokens extended thinking may use (less than max_tokens)",
                minimum=1024,
                maximum=127_999,
                advanced=True,
            ),
        ]
    ),
    cross_check=_thinking,
)
