"""Writes: create, update and delete models; each change is one config event.

Every write runs in one transaction holding a transaction-scoped advisory lock, so name and
alias uniqueness checks cannot race; the idempotent-request row, the model row, the event and
its outbox row commit together.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from llmctl_contracts import FieldError, MessageType
from llmctl_contracts.models import (
    CreateModel,
    DeleteModel,
    ModelCreated,
    ModelDeleted,
    ModelRecord,
    ModelUpdated,
    SecretRef,
    UpdateModel,
)
from llmctl_libs.ids import new_id
from llmctl_libs.service import Persistence
from llmctl_libs.store import PendingMessage
from llmctl_libs.store.idempotency import NOT_SEEN, IdempotentRequests, request_fingerprint

from .config_events import ConfigEvents, trace_of
from .errors import conflict, invalid, not_found
from .providers import PROVIDERS, ProviderSpec
from .records import record_of, secret_ref_of
from .secrets import check_secret
from .settings_check import check_settings
from .tables import idempotency, models

__all__ = ["ModelWrites"]

_LOCK_KEY = 0x6D6F64656C73  # "models": serializes model writes (uniqueness checks)
_ENTITY = "model"


async def _lock(conn: AsyncConnection) -> None:
    await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_LOCK_KEY)))


async def _check_unique(
    conn: AsyncConnection, name: str, alias: str | None, exclude_id: str | None
) -> None:
    """Names and aliases share one namespace (resolution accepts either)."""
    others = sa.select(models.c.name, models.c.default_alias)
    if exclude_id is not None:
        others = others.where(models.c.id != exclude_id)
    wanted = [name] if alias is None else [name, alias]
    taken = (
        await conn.execute(
            others.where(sa.or_(models.c.name.in_(wanted), models.c.default_alias.in_(wanted)))
        )
    ).all()
    used = {v for row in taken for v in (row.name, row.default_alias) if v is not None}
    if name in used:
        raise conflict("$.name", f"a model named or aliased {name!r} already exists")
    if alias is not None and alias in used:
        raise conflict("$.default_alias", f"a model named or aliased {alias!r} already exists")


def _secret_columns(ref: SecretRef | None) -> dict[str, Any]:
    return {
        "api_key_ref": None if ref is None else ref.name,
        "secret_kind": None if ref is None else ref.kind,
    }


def _validated(
    spec: ProviderSpec,
    *,
    name: str,
    alias: str | None,
    settings: dict[str, Any],
    version: int,
    base_url: str | None,
    secret: SecretRef | None,
    check_secret_ref: bool,
) -> dict[str, Any]:
    """The normalized settings, or ``validation_failed`` listing every problem."""
    normalized, errors = check_settings(spec, settings, version=version, base_url=base_url)
    if check_secret_ref:
        errors += check_secret(spec, secret)
    if alias is not None and alias == name:
        errors.append(FieldError(field="$.default_alias", reason="must differ from the name"))
    if errors:
        raise invalid("model", errors)
    return normalized


class ModelWrites:
    """Creates, updates and deletes models (idempotent by key, optimistic by version)."""

    def __init__(self, persistence: Persistence) -> None:
        self._db = persistence.database
        self._events = ConfigEvents(persistence)
        self._requests = IdempotentRequests(idempotency)

    async def _begin(self, conn: AsyncConnection, scope: str, request: Any) -> Any:
        key: str | None = request.idempotency_key
        if key is None:
            return NOT_SEEN
        return await self._requests.begin(conn, scope, key, request_fingerprint(request))

    async def _finish(
        self, conn: AsyncConnection, scope: str, request: Any, record: ModelRecord
    ) -> None:
        if request.idempotency_key is not None:
            await self._requests.finish(conn, scope, request.idempotency_key, record)

    async def _clear_other_defaults(self, conn: AsyncConnection, model_id: str) -> None:
        await conn.execute(
            sa.update(models)
            .where(models.c.is_default, models.c.id != model_id)
            .values(is_default=False)
        )

    async def create(self, request: CreateModel) -> ModelRecord:
        """Validate against the provider's current schema and store a new model (version 1)."""
        spec = PROVIDERS[request.provider]
        pending: list[PendingMessage] = []
        async with self._db.transaction() as conn:
            await _lock(conn)
            seen = await self._begin(conn, "model.create", request)
            if seen is not NOT_SEEN:
                return msgspec.convert(seen, ModelRecord)
            settings = _validated(
                spec,
                name=request.name,
                alias=request.default_alias,
                settings=request.settings,
                version=spec.current_version,
                base_url=request.base_url,
                secret=request.secret_ref,
                check_secret_ref=True,
            )
            await _check_unique(conn, request.name, request.default_alias, None)
            model_id = new_id()
            row = (
                await conn.execute(
                    sa.insert(models)
                    .values(
                        id=model_id,
                        name=request.name,
                        provider=spec.name,
                        provider_model_id=request.provider_model_id,
                        base_url=request.base_url,
                        settings=settings,
                        settings_schema_version=spec.current_version,
                        default_alias=request.default_alias,
                        capability_tags=sorted(set(request.capability_tags)),
                        is_default=request.is_default,
                        version=1,
                        **_secret_columns(request.secret_ref),
                    )
                    .returning(*models.c)
                )
            ).one()
            if request.is_default:
                await self._clear_other_defaults(conn, model_id)
            record = record_of(row)
            pending = await self._events.record(
                conn,
                entity=_ENTITY,
                entity_id=model_id,
                action="created",
                type_name=MessageType.MODEL_CREATED,
                payload=ModelCreated(model=record),
                stream_version=1,
                trace=trace_of(request, model_id),
            )
            await self._finish(conn, "model.create", request, record)
        self._events.publish(pending)
        return record

    async def _locked_row(
        self, conn: AsyncConnection, model_id: str, expected_version: int | None
    ) -> sa.Row[Any]:
        row = (
            await conn.execute(sa.select(models).where(models.c.id == model_id).with_for_update())
        ).first()
        if row is None:
            raise not_found("model", model_id)
        if row.builtin:
            raise conflict(
                "$.id", "built-in models are registered from the environment and are read-only"
            )
        if expected_version is not None and row.version != expected_version:
            raise conflict(
                "$.expected_version",
                f"the model is at version {row.version}, not {expected_version}: "
                "reload it and apply your change again",
            )
        return row

    async def update(self, request: UpdateModel) -> ModelRecord:
        """Apply the fields given; the provider binding never changes."""
        pending: list[PendingMessage] = []
        async with self._db.transaction() as conn:
            await _lock(conn)
            seen = await self._begin(conn, "model.update", request)
            if seen is not NOT_SEEN:
                return msgspec.convert(seen, ModelRecord)
            row = await self._locked_row(conn, request.id, request.expected_version)
            if request.provider is not msgspec.UNSET and request.provider != row.provider:
                raise invalid(
                    "model",
                    [
                        FieldError(
                            field="$.provider",
                            reason=f"a model's provider cannot change (it is bound to "
                            f"{row.provider}); create a new model instead",
                        )
                    ],
                )
            values = self._updated_values(row, request)
            changed = sorted(k for k, v in values.items() if getattr(row, k) != v)
            if not changed:
                record = record_of(row)
                await self._finish(conn, "model.update", request, record)
                return record
            new_row = (
                await conn.execute(
                    sa.update(models)
                    .where(models.c.id == row.id)
                    .values(**values, version=row.version + 1, updated_at=sa.func.now())
                    .returning(*models.c)
                )
            ).one()
            if values["is_default"] and not row.is_default:
                await self._clear_other_defaults(conn, row.id)
            record = record_of(new_row)
            pending = await self._events.record(
                conn,
                entity=_ENTITY,
                entity_id=row.id,
                action="updated",
                type_name=MessageType.MODEL_UPDATED,
                payload=ModelUpdated(model=record, changed_fields=_public_names(changed)),
                stream_version=record.version,
                trace=trace_of(request, row.id),
            )
            await self._finish(conn, "model.update", request, record)
        self._events.publish(pending)
        return record

    def _updated_values(self, row: sa.Row[Any], request: UpdateModel) -> dict[str, Any]:
        """Column values after ``request``, validated (settings, secret, alias)."""
        spec = PROVIDERS[row.provider]

        def pick(value: Any, current: Any) -> Any:
            return current if value is msgspec.UNSET else value

        name = pick(request.name, row.name)
        alias = pick(request.default_alias, row.default_alias)
        base_url = pick(request.base_url, row.base_url)
        secret = pick(request.secret_ref, secret_ref_of(row))
        settings_in = pick(request.settings, dict(row.settings))
        version = (
            spec.current_version if request.upgrade_settings_schema else row.settings_schema_version
        )
        settings = _validated(
            spec,
            name=name,
            alias=alias,
            settings=settings_in,
            version=version,
            base_url=base_url,
            secret=secret,
            check_secret_ref=request.secret_ref is not msgspec.UNSET,
        )
        tags = pick(request.capability_tags, None)
        return {
            "name": name,
            "default_alias": alias,
            "provider_model_id": pick(request.provider_model_id, row.provider_model_id),
            "base_url": base_url,
            "settings": settings,
            "settings_schema_version": version,
            "capability_tags": list(row.capability_tags) if tags is None else sorted(set(tags)),
            "is_default": pick(request.is_default, row.is_default),
            **_secret_columns(secret),
        }

    async def delete(self, request: DeleteModel) -> ModelRecord:
        """Delete a model; answers the record as it was."""
        pending: list[PendingMessage] = []
        async with self._db.transaction() as conn:
            await _lock(conn)
            seen = await self._begin(conn, "model.delete", request)
            if seen is not NOT_SEEN:
                return msgspec.convert(seen, ModelRecord)
            row = await self._locked_row(conn, request.id, request.expected_version)
            record = record_of(row)
            await conn.execute(sa.delete(models).where(models.c.id == row.id))
            pending = await self._events.record(
                conn,
                entity=_ENTITY,
                entity_id=row.id,
                action="deleted",
                type_name=MessageType.MODEL_DELETED,
                payload=ModelDeleted(
                    model_id=row.id, name=row.name, provider=row.provider, version=row.version
                ),
                stream_version=row.version + 1,
                trace=trace_of(request, row.id),
            )
            await self._finish(conn, "model.delete", request, record)
        self._events.publish(pending)
        return record


_PUBLIC_NAMES: Mapping[str, str] = {"api_key_ref": "secret_ref", "secret_kind": "secret_ref"}


def _public_names(columns: list[str]) -> list[str]:
    """Changed columns as record field names."""
    return sorted({_PUBLIC_NAMES.get(c, c) for c in columns})
