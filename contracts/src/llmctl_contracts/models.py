"""Model management contracts: providers, their settings schemas, model records, drift,
runtime settings, the models service's request/reply messages and its config events.

Secrets never appear here: a model holds a :class:`SecretRef` (which environment variable or
mounted secret holds the key), never the key.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from .errors import FieldError

__all__ = [
    "MODEL_NAME_PATTERN",
    "MODEL_SORT_KEYS",
    "PROVIDER_NAMES",
    "BaseUrl",
    "CapabilityTag",
    "CreateModel",
    "DeleteModel",
    "DispatchDefaults",
    "DriftNotice",
    "ExecutorImage",
    "GetModel",
    "GetProvider",
    "ListModels",
    "ListProviders",
    "ModelCreated",
    "ModelDeleted",
    "ModelName",
    "ModelPage",
    "ModelRecord",
    "ModelSort",
    "ModelUpdated",
    "ProbeResult",
    "ProviderDescriptor",
    "ProviderModelId",
    "ProviderName",
    "ProviderSettingsValidation",
    "RuntimeSettings",
    "RuntimeSettingsUpdated",
    "SecretRef",
    "SettingField",
    "SettingsSchemaVersion",
    "Tags",
    "UpdateModel",
    "UpdateRuntimeSettings",
    "ValidateProviderSettings",
]

ProviderName = Literal["openai", "anthropic", "gemini", "vertex", "vllm"]
"""Every provider a model can bind to."""

PROVIDER_NAMES: tuple[str, ...] = ("openai", "anthropic", "gemini", "vertex", "vllm")

MODEL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$"
"""Model names and aliases: 1-128 characters, letters, digits and ``._:-``."""

ModelName = Annotated[str, msgspec.Meta(pattern=MODEL_NAME_PATTERN)]
CapabilityTag = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9_.\-]{0,63}(?!\n)$")]
Tags = Annotated[list[CapabilityTag], msgspec.Meta(max_length=32)]
ProviderModelId = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
BaseUrl = Annotated[str, msgspec.Meta(pattern=r"^https?://[^\s]+(?!\n)$", max_length=2048)]

K8sNamespace = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9]([a-z0-9\-]{0,61}[a-z0-9])?(?!\n)$")]

ModelSort = Literal[
    "name",
    "-name",
    "provider",
    "-provider",
    "created_at",
    "-created_at",
    "updated_at",
    "-updated_at",
]
"""List order: a column, ``-`` prefixed for descending; ties are ordered by id."""

MODEL_SORT_KEYS: tuple[str, ...] = ("name", "provider", "created_at", "updated_at")


class SecretRef(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where a credential lives; the value itself is never stored, sent or logged.

    Attributes:
        kind: ``env``: an environment variable of the services that use it; ``secret``: a
            file named ``name`` in the secrets directory (a mounted Kubernetes secret).
        name: The variable or secret name.
    """

    kind: Literal["env", "secret"]
    name: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z_][A-Za-z0-9_.\-]{0,127}(?!\n)$")]


class SettingField(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One provider setting as a settings schema version describes it.

    Attributes:
        name: Key in the model's ``settings``.
        type: ``string``, ``integer``, ``number``, ``boolean`` or ``enum``.
        description: What it controls.
        required: Whether a model must set it.
        default: Value used when a model does not set it (absent: not sent at all).
        choices: Allowed values of an ``enum``.
        minimum: Smallest allowed number.
        maximum: Largest allowed number.
        advanced: Shown under "Advanced provider settings" in the UI.
    """

    name: str
    type: Literal["string", "integer", "number", "boolean", "enum"]
    description: str
    required: bool = False
    default: Any = None
    choices: list[str] | None = None
    minimum: float | None = None
    maximum: float | None = None
    advanced: bool = False


class SettingsSchemaVersion(msgspec.Struct, frozen=True, kw_only=True):
    """One version of a provider's settings schema.

    Attributes:
        version: 1, 2, ...; a model snapshots the current one at create.
        fields: Every setting of this version.
        added_fields: Settings new in this version (relative to the previous one).
    """

    version: int
    fields: list[SettingField]
    added_fields: list[str] = msgspec.field(default_factory=list)


class ProviderDescriptor(msgspec.Struct, frozen=True, kw_only=True):
    """A provider and every version of its settings schema.

    Attributes:
        name: Provider name.
        display_name: Human name.
        description: What it is and how it is reached.
        executor: The executor class that runs its models (``frontier`` or ``vllm``).
        secret: ``required``, ``optional`` or ``none``: whether models need a credential.
        secret_hint: The usual credential reference (e.g. ``OPENAI_API_KEY``).
        current_version: The schema version new models snapshot.
        versions: Every schema version, oldest first.
    """

    name: str
    display_name: str
    description: str
    executor: Literal["frontier", "vllm"]
    secret: Literal["required", "optional", "none"]
    secret_hint: str | None
    current_version: int
    versions: list[SettingsSchemaVersion]


class DriftNotice(msgspec.Struct, frozen=True, kw_only=True):
    """Non-blocking notice: the provider's schema is newer than the model's snapshot.

    Attributes:
        snapshot_version: Schema version the model's settings were taken at.
        current_version: The provider's current schema version.
        new_fields: Settings the newer versions add, not represented in the snapshot.
        message: A sentence for the UI's flash area.
    """

    snapshot_version: int
    current_version: int
    new_fields: list[str]
    message: str


class ModelRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A model bound to exactly one provider.

    Attributes:
        id: Stable id.
        name: Unique name (what flowchart nodes refer to).
        provider: The one provider it binds to; never changes.
        provider_model_id: The provider's own model id (e.g. ``gpt-4.1-mini``).
        default_alias: Optional unique alias; resolution accepts it like the name.
        capability_tags: Free tags (``vision``, ``tools``, ``json``...).
        base_url: Endpoint override (OpenAI-compatible servers, remote vLLM).
        secret_ref: Where the credential lives (never its value).
        settings: Provider settings snapshot, defaults filled in.
        settings_schema_version: Provider schema version of the snapshot.
        is_default: Used when a node names no model.
        builtin: Registered from the environment at start-up (read-only through the API).
        version: Optimistic-concurrency version, 1 at create, +1 per update.
        created_at: ISO 8601 UTC.
        updated_at: ISO 8601 UTC.
        drift: Present when the provider's schema is newer than the snapshot.
    """

    id: str
    name: str
    provider: str
    provider_model_id: str
    default_alias: str | None
    capability_tags: list[str]
    base_url: str | None
    secret_ref: SecretRef | None
    settings: dict[str, Any]
    settings_schema_version: int
    is_default: bool
    builtin: bool
    version: int
    created_at: str
    updated_at: str
    drift: DriftNotice | None = None


class ModelPage(msgspec.Struct, frozen=True, kw_only=True):
    """One page of models and the total count of matches."""

    items: list[ModelRecord]
    total: int
    page: int
    page_size: int


class ListProviders(msgspec.Struct, frozen=True, kw_only=True):
    """Every provider (no parameters)."""


class GetProvider(msgspec.Struct, frozen=True, kw_only=True):
    """One provider by name."""

    name: ProviderName


class GetModel(msgspec.Struct, frozen=True, kw_only=True):
    """One model by id."""

    id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]


class ListModels(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A page of models.

    Attributes:
        q: Case-insensitive substring of name, provider model id or alias (empty: all).
        provider: Only models of this provider.
        capability: Only models carrying this capability tag.
        sort: Order (see :data:`ModelSort`); default name ascending.
        page: 1-based page number; a page past the end is empty (``total`` still counts).
        page_size: 1..100, default 25.
    """

    q: Annotated[str, msgspec.Meta(max_length=200)] = ""
    provider: ProviderName | None = None
    capability: CapabilityTag | None = None
    sort: ModelSort = "name"
    page: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 1
    page_size: Annotated[int, msgspec.Meta(ge=1, le=100)] = 25


class CreateModel(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Create a model; ``settings`` are validated against the provider's current schema.

    Attributes:
        idempotency_key: The same key with the same body returns the same model; with
            another body, ``idempotency_mismatch``.
    """

    name: ModelName
    provider: ProviderName
    provider_model_id: ProviderModelId
    default_alias: ModelName | None = None
    capability_tags: Tags = msgspec.field(default_factory=list)
    base_url: BaseUrl | None = None
    secret_ref: SecretRef | None = None
    settings: dict[str, Any] = msgspec.field(default_factory=dict)
    is_default: bool = False
    idempotency_key: str | None = None
    request_id: str | None = None
    correlation_id: str | None = None


class UpdateModel(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Change a model; fields left out stay as they are.

    ``settings`` replace the snapshot and are validated against the snapshot's schema
    version; ``upgrade_settings_schema`` validates them against the provider's current
    version instead and moves the snapshot to it (clearing any drift). ``provider`` may be
    sent only unchanged: a model's provider binding never changes.

    Attributes:
        expected_version: The model's ``version`` as the caller last read it; another
            version answers ``conflict``.
    """

    id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    expected_version: Annotated[int, msgspec.Meta(ge=1)]
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
    idempotency_key: str | None = None
    request_id: str | None = None
    correlation_id: str | None = None


class DeleteModel(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Delete a model (``expected_version``, when given, must match)."""

    id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    expected_version: Annotated[int, msgspec.Meta(ge=1)] | None = None
    idempotency_key: str | None = None
    request_id: str | None = None
    correlation_id: str | None = None


class ValidateProviderSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Check settings (and a credential reference) against a provider's current schema.

    Attributes:
        probe: Also make a cheap live call (list models) when the credential is present.
    """

    provider: ProviderName
    settings: dict[str, Any] = msgspec.field(default_factory=dict)
    secret_ref: SecretRef | None = None
    base_url: BaseUrl | None = None
    provider_model_id: ProviderModelId | None = None
    probe: bool = False


class ProbeResult(msgspec.Struct, frozen=True, kw_only=True):
    """Outcome of a live probe.

    Attributes:
        status: ``ok``, ``failed`` or ``skipped`` (no probe for this provider, or no credential).
        detail: What happened, in words (never a credential).
        model_found: Whether ``provider_model_id`` is among the provider's models, if asked.
    """

    status: Literal["ok", "failed", "skipped"]
    detail: str
    model_found: bool | None = None


class ProviderSettingsValidation(msgspec.Struct, frozen=True, kw_only=True):
    """Whether settings are valid for a provider, and the snapshot a model would store.

    Attributes:
        valid: No errors.
        provider: The provider.
        schema_version: The schema version checked against (the current one).
        settings: The settings with defaults filled in (only meaningful when valid).
        errors: Field-level problems (``$.settings.<name>``, ``$.secret_ref.name``...).
        probe: The live probe's outcome, when asked for.
    """

    valid: bool
    provider: str
    schema_version: int
    settings: dict[str, Any]
    errors: list[FieldError] = msgspec.field(default_factory=list)
    probe: ProbeResult | None = None


class ExecutorImage(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A container image and tag one executor class runs from."""

    image: Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9._\-/:]{0,254}(?!\n)$")]
    tag: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_][A-Za-z0-9._\-]{0,127}(?!\n)$")]


class DispatchDefaults(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Dispatch defaults (the legacy ``LLMCTL_NODE_EXECUTOR_*`` settings).

    Attributes:
        dispatch_timeout_seconds: How long a dispatched node run may wait to start.
        execution_timeout_seconds: Default node execution timeout.
        cancel_grace_seconds: How long a cancelled execution may take to stop.
        k8s_namespace: Namespace of executor Jobs.
        k8s_gpu_limit: GPUs requested by vLLM Jobs (0-8; 0 runs on CPU).
        k8s_job_ttl_seconds: How long finished Jobs are kept.
        k8s_image_pull_secrets: Names of image pull secrets (names only).
        k8s_service_account: Service account of executor Jobs (none: the namespace default).
    """

    dispatch_timeout_seconds: Annotated[int, msgspec.Meta(ge=1, le=86_400)] = 300
    execution_timeout_seconds: Annotated[int, msgspec.Meta(ge=1, le=604_800)] = 1800
    cancel_grace_seconds: Annotated[int, msgspec.Meta(ge=0, le=3600)] = 15
    k8s_namespace: K8sNamespace = "default"
    k8s_gpu_limit: Annotated[int, msgspec.Meta(ge=0, le=8)] = 0
    k8s_job_ttl_seconds: Annotated[int, msgspec.Meta(ge=0, le=604_800)] = 1800
    k8s_image_pull_secrets: Annotated[
        list[Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9.\-]{0,252}(?!\n)$")]],
        msgspec.Meta(max_length=16),
    ] = msgspec.field(default_factory=list)
    k8s_service_account: (
        Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9.\-]{0,252}(?!\n)$")] | None
    ) = None


class RuntimeSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Executor images and dispatch defaults (one document, versioned).

    Attributes:
        version: 0 until first saved (defaults), then +1 per update.
        frontier: Image of the ``frontier`` executor class.
        vllm: Image of the ``vllm`` executor class.
        dispatch: Dispatch defaults.
        updated_at: ISO 8601 UTC of the last update (``None``: never saved).
    """

    version: int
    frontier: ExecutorImage
    vllm: ExecutorImage
    dispatch: DispatchDefaults
    updated_at: str | None = None


class UpdateRuntimeSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Replace the sections given; ``expected_version`` must match (else ``conflict``)."""

    expected_version: Annotated[int, msgspec.Meta(ge=0)]
    frontier: ExecutorImage | msgspec.UnsetType = msgspec.UNSET
    vllm: ExecutorImage | msgspec.UnsetType = msgspec.UNSET
    dispatch: DispatchDefaults | msgspec.UnsetType = msgspec.UNSET
    idempotency_key: str | None = None
    request_id: str | None = None
    correlation_id: str | None = None


class ModelCreated(msgspec.Struct, frozen=True, kw_only=True):
    """A model was created (the record as stored; references only, no secret)."""

    model: ModelRecord


class ModelUpdated(msgspec.Struct, frozen=True, kw_only=True):
    """A model changed; ``changed_fields`` names what."""

    model: ModelRecord
    changed_fields: list[str]


class ModelDeleted(msgspec.Struct, frozen=True, kw_only=True):
    """A model was deleted."""

    model_id: str
    name: str
    provider: str
    version: int


class RuntimeSettingsUpdated(msgspec.Struct, frozen=True, kw_only=True):
    """The runtime settings document changed; ``changed_sections`` names what."""

    settings: RuntimeSettings
    changed_sections: list[str]
