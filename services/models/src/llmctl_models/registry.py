"""Model records: sync of built-ins, resolution by name, listing."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from llmctl_contracts import ErrorBody, ErrorCode, FieldError
from llmctl_contracts.commands import ModelBinding
from llmctl_contracts.rpc import ResolveModel
from llmctl_libs.ids import deterministic_id
from llmctl_libs.rpc import RpcError
from llmctl_libs.store import Database

from .builtin import BuiltinModel
from .tables import models

__all__ = ["ModelRegistry"]


class ModelRegistry:
    """Reads and writes the ``models`` table."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def sync_builtins(self, builtins: list[BuiltinModel]) -> None:
        """Upsert built-in models; the first becomes the default when none is set."""
        async with self._db.transaction() as conn:
            for model in builtins:
                values = {
                    "provider": model.provider,
                    "provider_model_id": model.provider_model_id,
                    "base_url": model.base_url,
                    "api_key_ref": model.api_key_ref,
                    "builtin": True,
                }
                await conn.execute(
                    insert(models)
                    .values(id=deterministic_id("model", model.name), name=model.name, **values)
                    .on_conflict_do_update(index_elements=[models.c.name], set_=values)
                )
            has_default = (
                await conn.execute(sa.select(models.c.id).where(models.c.is_default))
            ).first()
            if builtins and has_default is None:
                await conn.execute(
                    sa.update(models)
                    .where(models.c.name == builtins[0].name)
                    .values(is_default=True)
                )

    async def resolve(self, request: ResolveModel) -> ModelBinding:
        """The model named ``request.name`` (or the default model)."""
        condition = models.c.is_default if request.name is None else models.c.name == request.name
        async with self._db.engine.connect() as conn:
            row = (await conn.execute(sa.select(models).where(condition))).first()
        if row is None:
            what = (
                "no default model is configured"
                if request.name is None
                else f"model {request.name!r} not found"
            )
            raise RpcError(
                ErrorBody(
                    code=ErrorCode.NOT_FOUND,
                    message=what,
                    details=[FieldError(field="model", reason=what)],
                )
            )
        return _binding(row)

    async def list(self, _: dict[str, object]) -> list[ModelBinding]:
        """Every model, by name."""
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(sa.select(models).order_by(models.c.name))).all()
        return [_binding(r) for r in rows]


def _binding(row: sa.Row[Any]) -> ModelBinding:
    """A model row as the executor needs it (the secret stays a reference)."""
    return ModelBinding(
        name=row.name,
        provider=row.provider,
        provider_model_id=row.provider_model_id,
        base_url=row.base_url,
        api_key_ref=row.api_key_ref,
        settings=dict(row.settings),
    )
