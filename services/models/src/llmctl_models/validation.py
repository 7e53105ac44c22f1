"""``model.validate_provider_settings``: settings and credential checks, optional probe."""

from __future__ import annotations

from llmctl_contracts.models import ProviderSettingsValidation, ValidateProviderSettings

from .probe import probe_provider
from .providers import PROVIDERS
from .secrets import check_secret
from .settings_check import check_settings

__all__ = ["validate_provider_settings"]


async def validate_provider_settings(
    request: ValidateProviderSettings,
) -> ProviderSettingsValidation:
    """Whether a model with these settings could be created now (and, if asked and valid,
    whether the provider answers)."""
    spec = PROVIDERS[request.provider]
    settings, errors = check_settings(spec, request.settings, base_url=request.base_url)
    errors += check_secret(spec, request.secret_ref)
    probe = None
    if request.probe and not errors:
        probe = await probe_provider(
            spec.name,
            settings,
            base_url=request.base_url,
            secret_ref=request.secret_ref,
            provider_model_id=request.provider_model_id,
        )
    return ProviderSettingsValidation(
        valid=not errors,
        provider=spec.name,
        schema_version=spec.current_version,
        settings=settings,
        errors=errors,
        probe=probe,
    )
