"""Model rows as wire records (with drift) and as executor bindings."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from llmctl_contracts.commands import ModelBinding
from llmctl_contracts.models import ModelRecord, SecretRef

from .drift import drift_notice
from .providers import provider_spec

__all__ = ["binding_of", "record_of", "secret_ref_of"]


def secret_ref_of(row: sa.Row[Any]) -> SecretRef | None:
    """The row's credential reference (``env`` for rows written before secret kinds)."""
    if row.api_key_ref is None:
        return None
    if row.secret_kind == "secret":
        return SecretRef(kind="secret", name=row.api_key_ref)
    return SecretRef(kind="env", name=row.api_key_ref)


def record_of(row: sa.Row[Any]) -> ModelRecord:
    """A ``models`` row as a :class:`ModelRecord`, with a drift notice when it is behind."""
    spec = provider_spec(row.provider)
    return ModelRecord(
        id=row.id,
        name=row.name,
        provider=row.provider,
        provider_model_id=row.provider_model_id,
        default_alias=row.default_alias,
        capability_tags=list(row.capability_tags),
        base_url=row.base_url,
        secret_ref=secret_ref_of(row),
        settings=dict(row.settings),
        settings_schema_version=row.settings_schema_version,
        is_default=row.is_default,
        builtin=row.builtin,
        version=row.version,
        created_at=row.created_at.isoformat(),
        updated_at=row.updated_at.isoformat(),
        drift=drift_notice(spec, row.settings_schema_version) if spec is not None else None,
    )


def binding_of(row: sa.Row[Any]) -> ModelBinding:
    """A model row as the executor needs it: the credential stays a reference.

    ``api_key_ref`` is the variable name for ``env`` references and ``secret:<name>`` for
    mounted secrets.
    """
    ref = secret_ref_of(row)
    api_key_ref = None if ref is None else ref.name if ref.kind == "env" else f"secret:{ref.name}"
    return ModelBinding(
        name=row.name,
        provider=row.provider,
        provider_model_id=row.provider_model_id,
        base_url=row.base_url,
        api_key_ref=api_key_ref,
        settings=dict(row.settings),
    )
