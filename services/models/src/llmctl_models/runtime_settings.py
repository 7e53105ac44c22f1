"""Runtime settings: executor images per class and dispatch defaults, one versioned document.

Until first saved the document is the defaults at version 0 (images from
``LLMCTL_FRONTIER_IMAGE``/``_TAG`` and ``LLMCTL_VLLM_IMAGE``/``_TAG`` when set).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from llmctl_contracts import MessageType
from llmctl_contracts.models import (
    DispatchDefaults,
    ExecutorImage,
    RuntimeSettings,
    RuntimeSettingsUpdated,
    UpdateRuntimeSettings,
)
from llmctl_libs.service import Persistence
from llmctl_libs.store import PendingMessage
from llmctl_libs.store.idempotency import NOT_SEEN, IdempotentRequests, request_fingerprint

from .config_events import ConfigEvents, trace_of
from .errors import conflict
from .tables import idempotency, runtime_settings

__all__ = ["RUNTIME_SETTINGS_ID", "RuntimeSettingsStore", "default_runtime_settings"]

RUNTIME_SETTINGS_ID = "default"
_SECTIONS = ("frontier", "vllm", "dispatch")


def default_runtime_settings(environ: Mapping[str, str] | None = None) -> RuntimeSettings:
    """The document before anyone saved it."""
    env = os.environ if environ is None else environ
    return RuntimeSettings(
        version=0,
        frontier=ExecutorImage(
            image=env.get("LLMCTL_FRONTIER_IMAGE", "llmctl-executor-frontier"),
            tag=env.get("LLMCTL_FRONTIER_IMAGE_TAG", "latest"),
        ),
        vllm=ExecutorImage(
            image=env.get("LLMCTL_VLLM_IMAGE", "llmctl-executor-vllm"),
            tag=env.get("LLMCTL_VLLM_IMAGE_TAG", "latest"),
        ),
        dispatch=DispatchDefaults(),
    )


class RuntimeSettingsStore:
    """Reads and updates the runtime settings document (optimistic by version)."""

    def __init__(self, persistence: Persistence) -> None:
        self._db = persistence.database
        self._events = ConfigEvents(persistence)
        self._requests = IdempotentRequests(idempotency)

    async def _current(self, conn: AsyncConnection, *, lock: bool) -> RuntimeSettings:
        query = sa.select(runtime_settings).where(runtime_settings.c.id == RUNTIME_SETTINGS_ID)
        row = (await conn.execute(query.with_for_update() if lock else query)).first()
        if row is None:
            return default_runtime_settings()
        return msgspec.convert(
            {**row.document, "version": row.version, "updated_at": row.updated_at.isoformat()},
            RuntimeSettings,
        )

    async def get(self, _: object) -> RuntimeSettings:
        """The current document."""
        async with self._db.autocommit() as conn:
            return await self._current(conn, lock=False)

    async def update(self, request: UpdateRuntimeSettings) -> RuntimeSettings:
        """Replace the sections given when ``expected_version`` matches."""
        pending: list[PendingMessage] = []
        async with self._db.transaction() as conn:
            # the first save has no row to lock: serialize on the key instead
            await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(0x72756E74696D65)))
            key = request.idempotency_key
            if key is not None:
                seen = await self._requests.begin(
                    conn, "runtime_settings.update", key, request_fingerprint(request)
                )
                if seen is not NOT_SEEN:
                    return msgspec.convert(seen, RuntimeSettings)
            current = await self._current(conn, lock=True)
            if current.version != request.expected_version:
                raise conflict(
                    "$.expected_version",
                    f"the runtime settings are at version {current.version}, not "
                    f"{request.expected_version}: reload them and apply your change again",
                )
            changes = {
                s: getattr(request, s)
                for s in _SECTIONS
                if getattr(request, s) is not msgspec.UNSET
                and getattr(request, s) != getattr(current, s)
            }
            result = current
            if changes:
                result = await self._save(conn, current, changes)
                pending = await self._events.record(
                    conn,
                    entity="runtime_settings",
                    entity_id=RUNTIME_SETTINGS_ID,
                    action="updated",
                    type_name=MessageType.RUNTIME_SETTINGS_UPDATED,
                    payload=RuntimeSettingsUpdated(
                        settings=result, changed_sections=sorted(changes)
                    ),
                    stream_version=result.version,
                    trace=trace_of(request, RUNTIME_SETTINGS_ID),
                )
            if key is not None:
                await self._requests.finish(conn, "runtime_settings.update", key, result)
        self._events.publish(pending)
        return result

    async def _save(
        self, conn: AsyncConnection, current: RuntimeSettings, changes: dict[str, object]
    ) -> RuntimeSettings:
        updated = msgspec.structs.replace(current, version=current.version + 1, **changes)
        document = msgspec.to_builtins(updated)
        document.pop("version")
        document.pop("updated_at", None)
        row = (
            await conn.execute(
                insert(runtime_settings)
                .values(id=RUNTIME_SETTINGS_ID, version=updated.version, document=document)
                .on_conflict_do_update(
                    index_elements=[runtime_settings.c.id],
                    set_={
                        "version": updated.version,
                        "document": document,
                        "updated_at": sa.func.now(),
                    },
                )
                .returning(runtime_settings.c.updated_at)
            )
        ).one()
        return msgspec.structs.replace(updated, updated_at=row.updated_at.isoformat())
