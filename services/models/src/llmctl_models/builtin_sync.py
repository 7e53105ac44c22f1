"""Keeps built-in models (registered from the environment) in the ``models`` table.

Built-ins are not configuration changes made by anyone: syncing them writes no config event.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from llmctl_libs.ids import deterministic_id
from llmctl_libs.store import Database

from .builtin import BuiltinModel
from .providers import PROVIDERS
from .settings_check import check_settings
from .tables import models

__all__ = ["sync_builtins"]


async def sync_builtins(db: Database, builtins: list[BuiltinModel]) -> None:
    """Upsert built-in models; the first becomes the default when none is set."""
    async with db.transaction() as conn:
        for model in builtins:
            spec = PROVIDERS[model.provider]
            settings, _ = check_settings(spec, {}, base_url=model.base_url)
            values = {
                "provider": model.provider,
                "provider_model_id": model.provider_model_id,
                "base_url": model.base_url,
                "api_key_ref": model.api_key_ref,
                "secret_kind": None if model.api_key_ref is None else "env",
                "settings": settings,
                "settings_schema_version": spec.current_version,
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
                sa.update(models).where(models.c.name == builtins[0].name).values(is_default=True)
            )
