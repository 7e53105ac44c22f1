"""HTTP bodies and success envelopes of the model-management endpoints."""

from __future__ import annotations

from typing import Any

import msgspec

from llmctl_contracts.models import (
    BaseUrl,
    DispatchDefaults,
    ExecutorImage,
    ModelName,
    ModelPage,
    ModelRecord,
    ProviderDescriptor,
    ProviderModelId,
    ProviderName,
    ProviderSettingsValidation,
    RuntimeSettings,
    SecretRef,
    Tags,
)

__all__ = [
    "ModelCreateBody",
    "ModelPageResponse",
    "ModelResponse",
    "ModelUpdateBody",
    "ProviderResponse",
    "ProviderSettingsValidationResponse",
    "ProvidersResponse",
    "RuntimeSettingsBody",
    "RuntimeSettingsResponse",
    "ValidateProviderSettingsBody",
]


class ModelCreateBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Body of ``POST /api/v1/models`` (see :class:`~llmctl_contracts.models.CreateModel`)."""

    name: ModelName
    provider: ProviderName
    provider_model_id: ProviderModelId
    default_alias: ModelName | None = None
    capability_tags: Tags = msgspec.field(default_factory=list)
    base_url: BaseUrl | None = None
    secret_ref: SecretRef | None = None
    settings: dict[str, Any] = msgspec.field(default_factory=dict)
    is_default: bool = False


class ModelUpdateBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Body of ``PATCH /api/v1/models/{model_id}``: fields left out stay as they are.

    ``expected_version`` is the model's ``version`` as last read (409 ``conflict`` if it has
    moved on). ``provider`` may only repeat the model's provider.
    """

    expected_version: int
    name: ModelName | msgspec.UnsetType = msgspec.UNSET
    provider: str | msgspec.UnsetType = msgspec.UNSET
    provider_model_id: ProviderModelId | msgspec.UnsetType = msgspec.UNSET
    default_alias: ModelName | msgspec.UnsetType | None = msgspec.UNSET
    capability_tags: Tags | msgspec.UnsetType = msgspec.UNSET
    base_url: BaseUrl | msgspec.UnsetType | None = msgspec.UNSET
    secret_ref: SecretRef | msgspec.UnsetType | None = msgspec.UNSET
    settings: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET
    upgrade_settings_schema: bool = False
    is_default: bool | msgspec.UnsetType = msgspec.UNSET


class ValidateProviderSettingsBody(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True
):
    """Body of ``POST /api/v1/models/validate-provider-settings``."""

    provider: ProviderName
    settings: dict[str, Any] = msgspec.field(default_factory=dict)
    secret_ref: SecretRef | None = None
    base_url: BaseUrl | None = None
    provider_model_id: ProviderModelId | None = None
    probe: bool = False


class RuntimeSettingsBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Body of ``PUT /api/v1/runtime-settings``: sections given replace the stored ones."""

    expected_version: int
    frontier: ExecutorImage | msgspec.UnsetType = msgspec.UNSET
    vllm: ExecutorImage | msgspec.UnsetType = msgspec.UNSET
    dispatch: DispatchDefaults | msgspec.UnsetType = msgspec.UNSET


class ProvidersResponse(msgspec.Struct, frozen=True, kw_only=True):
    """Success envelope around every provider."""

    ok: bool
    data: list[ProviderDescriptor]
    correlation_id: str


class ProviderResponse(msgspec.Struct, frozen=True, kw_only=True):
    """Success envelope around one provider."""

    ok: bool
    data: ProviderDescriptor
    correlation_id: str


class ModelResponse(msgspec.Struct, frozen=True, kw_only=True):
    """Success envelope around one model (``data.drift`` when its snapshot is behind)."""

    ok: bool
    data: ModelRecord
    correlation_id: str


class ModelPageResponse(msgspec.Struct, frozen=True, kw_only=True):
    """Success envelope around a page of models (``items``, ``total``, ``page``,
    ``page_size``)."""

    ok: bool
    data: ModelPage
    correlation_id: str


class ProviderSettingsValidationResponse(msgspec.Struct, frozen=True, kw_only=True):
    """Success envelope around a settings validation (``data.valid``, ``data.errors``)."""

    ok: bool
    data: ProviderSettingsValidation
    correlation_id: str


class RuntimeSettingsResponse(msgspec.Struct, frozen=True, kw_only=True):
    """Success envelope around the runtime settings."""

    ok: bool
    data: RuntimeSettings
    correlation_id: str
