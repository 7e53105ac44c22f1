"""Validating provider settings against one settings schema version."""

from __future__ import annotations

from typing import Any

from llmctl_contracts import FieldError
from llmctl_contracts.models import SettingField, SettingsSchemaVersion

from .providers import ProviderSpec

__all__ = ["MAX_STRING_SETTING", "check_settings"]

MAX_STRING_SETTING = 1024


def _type_error(spec: SettingField, value: Any) -> str | None:
    if spec.type == "boolean":
        return None if isinstance(value, bool) else "must be true or false"
    if spec.type == "string":
        if not isinstance(value, str) or not value.strip():
            return "must be a non-empty string"
        return None if len(value) <= MAX_STRING_SETTING else "is too long"
    if spec.type == "enum":
        choices = spec.choices or []
        return None if value in choices else f"must be one of {', '.join(choices)}"
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    if spec.type == "integer" and not (numeric and float(value).is_integer()):
        return "must be an integer"
    if spec.type == "number" and not numeric:
        return "must be a number"
    if spec.minimum is not None and value < spec.minimum:
        return f"must be at least {spec.minimum:g}"
    if spec.maximum is not None and value > spec.maximum:
        return f"must be at most {spec.maximum:g}"
    return None


def _check_fields(
    provider: ProviderSpec, schema: SettingsSchemaVersion, settings: dict[str, Any]
) -> tuple[dict[str, Any], list[FieldError]]:
    by_name = {f.name: f for f in schema.fields}
    errors: list[FieldError] = []
    normalized: dict[str, Any] = {}
    for name, value in settings.items():
        spec = by_name.get(name)
        if spec is None:
            errors.append(
                FieldError(
                    field=f"$.settings.{name}",
                    reason=f"not a setting of {provider.name} (settings schema v{schema.version})",
                )
            )
        elif value is not None:
            problem = _type_error(spec, value)
            if problem is not None:
                errors.append(FieldError(field=f"$.settings.{name}", reason=problem))
            else:
                normalized[name] = int(value) if spec.type == "integer" else value
    for spec in schema.fields:
        if spec.name in normalized or spec.name in {e.field.rpartition(".")[2] for e in errors}:
            continue
        if spec.required:
            errors.append(
                FieldError(field=f"$.settings.{spec.name}", reason="required setting is missing")
            )
        elif spec.default is not None:
            normalized[spec.name] = spec.default
    return normalized, errors


def check_settings(
    provider: ProviderSpec,
    settings: dict[str, Any],
    *,
    version: int | None = None,
    base_url: str | None = None,
) -> tuple[dict[str, Any], list[FieldError]]:
    """Validate ``settings`` against ``provider``'s schema ``version`` (default: current).

    A ``null`` value means "not set". Defaults fill settings left out.

    Returns:
        The settings with defaults filled in, and every problem found (each naming its
        field as ``$.settings.<name>``, or ``$.base_url`` for a cross-field rule).
    """
    schema = provider.schema(version if version is not None else provider.current_version)
    if schema is None:
        return {}, [
            FieldError(
                field="$.settings_schema_version",
                reason=f"{provider.name} has no settings schema v{version}",
            )
        ]
    normalized, errors = _check_fields(provider, schema, settings)
    if not errors:
        errors = provider.cross_check(normalized, base_url)
    return normalized, errors
