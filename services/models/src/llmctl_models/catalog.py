"""Reads: providers, one model, pages of models, resolution by name or alias."""

from __future__ import annotations

import sqlalchemy as sa

from llmctl_contracts import ErrorBody, ErrorCode
from llmctl_contracts.commands import ModelBinding
from llmctl_contracts.models import (
    GetModel,
    GetProvider,
    ListModels,
    ListProviders,
    ModelPage,
    ModelRecord,
    ProviderDescriptor,
)
from llmctl_contracts.rpc import ResolveModel
from llmctl_libs.rpc import RpcError
from llmctl_libs.store import Database
from llmctl_libs.store.search import like_pattern

from .errors import not_found
from .providers import PROVIDERS
from .records import binding_of, record_of
from .tables import models

__all__ = ["ModelCatalog"]

_SORT_COLUMNS = {
    "name": models.c.name,
    "provider": models.c.provider,
    "created_at": models.c.created_at,
    "updated_at": models.c.updated_at,
}


class ModelCatalog:
    """Read-only queries over the ``models`` table and the provider registry."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def list_providers(self, _: ListProviders) -> list[ProviderDescriptor]:
        """Every provider with all its settings schema versions."""
        return [spec.descriptor() for spec in PROVIDERS.values()]

    async def get_provider(self, request: GetProvider) -> ProviderDescriptor:
        """One provider."""
        return PROVIDERS[request.name].descriptor()

    async def get(self, request: GetModel) -> ModelRecord:
        """One model by id (with a drift notice when its snapshot is behind)."""
        async with self._db.autocommit() as conn:
            row = (await conn.execute(sa.select(models).where(models.c.id == request.id))).first()
        if row is None:
            raise not_found("model", request.id)
        return record_of(row)

    async def list(self, request: ListModels) -> ModelPage:
        """A filtered, sorted page and the total number of matches."""
        conditions: list[sa.ColumnElement[bool]] = []
        q = request.q.strip()
        if q:
            pattern = like_pattern(q)
            conditions.append(
                sa.or_(
                    models.c.name.ilike(pattern, escape="\\"),
                    models.c.provider_model_id.ilike(pattern, escape="\\"),
                    models.c.default_alias.ilike(pattern, escape="\\"),
                )
            )
        if request.provider is not None:
            conditions.append(models.c.provider == request.provider)
        if request.capability is not None:
            conditions.append(models.c.capability_tags.contains([request.capability]))
        descending = request.sort.startswith("-")
        column = _SORT_COLUMNS[request.sort.lstrip("-")]
        order = [column.desc() if descending else column.asc(), models.c.id.asc()]
        where = sa.and_(sa.true(), *conditions)
        async with self._db.autocommit() as conn:
            total = (
                await conn.execute(sa.select(sa.func.count()).select_from(models).where(where))
            ).scalar_one()
            rows = (
                await conn.execute(
                    sa.select(models)
                    .where(where)
                    .order_by(*order)
                    .limit(request.page_size)
                    .offset((request.page - 1) * request.page_size)
                )
            ).all()
        return ModelPage(
            items=[record_of(r) for r in rows],
            total=total,
            page=request.page,
            page_size=request.page_size,
        )

    async def resolve(self, request: ResolveModel) -> ModelBinding:
        """The model named (or aliased) ``request.name``, or the default model."""
        condition: sa.ColumnElement[bool]
        if request.name is None:
            condition = models.c.is_default
        else:
            condition = sa.or_(
                models.c.name == request.name, models.c.default_alias == request.name
            )
        async with self._db.autocommit() as conn:
            rows = (
                await conn.execute(
                    # a name wins over another model's alias (writes keep them disjoint anyway)
                    sa.select(models)
                    .where(condition)
                    .order_by((models.c.name == (request.name or "")).desc())
                )
            ).all()
        if not rows:
            what = (
                "no default model is configured"
                if request.name is None
                else f"model {request.name!r} not found"
            )
            raise RpcError(ErrorBody.for_field(ErrorCode.NOT_FOUND, "model", what, message=what))
        return binding_of(rows[0])
