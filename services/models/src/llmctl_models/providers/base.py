"""A provider as the models service knows it: descriptor, settings schema versions, checks."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from llmctl_contracts import FieldError
from llmctl_contracts.models import ProviderDescriptor, SettingField, SettingsSchemaVersion

__all__ = ["CrossCheck", "ProviderSpec", "schema_versions"]

CrossCheck = Callable[[Mapping[str, Any], str | None], list[FieldError]]
"""Checks across settings (and the model's ``base_url``) once each field is valid."""


def _no_cross_check(_: Mapping[str, Any], __: str | None) -> list[FieldError]:
    return []


def schema_versions(*fields_per_version: list[SettingField]) -> tuple[SettingsSchemaVersion, ...]:
    """Schema versions 1, 2, ... from their full field lists, with ``added_fields`` derived."""
    versions: list[SettingsSchemaVersion] = []
    previous: set[str] = set()
    for number, fields in enumerate(fields_per_version, start=1):
        names = [f.name for f in fields]
        versions.append(
            SettingsSchemaVersion(
                version=number,
                fields=fields,
                added_fields=[n for n in names if n not in previous] if number > 1 else [],
            )
        )
        previous = set(names)
    return tuple(versions)


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """One provider: what it is and every version of its settings schema (oldest first).

    Every version stays in code forever: models snapshot the version current at their
    creation, and drift is the difference between that version and the current one.
    """

    name: str
    display_name: str
    description: str
    executor: Literal["frontier", "vllm"]
    secret: Literal["required", "optional", "none"]
    secret_hint: str | None
    versions: tuple[SettingsSchemaVersion, ...]
    cross_check: CrossCheck = field(default=_no_cross_check)

    @property
    def current_version(self) -> int:
        """The version new models snapshot."""
        return self.versions[-1].version

    def schema(self, version: int) -> SettingsSchemaVersion | None:
        """Schema ``version``, or ``None`` if this provider never had it."""
        for candidate in self.versions:
            if candidate.version == version:
                return candidate
        return None

    def descriptor(self) -> ProviderDescriptor:
        """The wire description of this provider."""
        return ProviderDescriptor(
            name=self.name,
            display_name=self.display_name,
            description=self.description,
            executor=self.executor,
            secret=self.secret,
            secret_hint=self.secret_hint,
            current_version=self.current_version,
            versions=list(self.versions),
        )
