"""Config events: one per change, in the event store and on JetStream, never for replays."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
import sqlalchemy as sa

from llmctl_contracts import MessageType, decode_envelope, decode_payload, socket_event_name
from llmctl_contracts import subjects as subj
from llmctl_contracts.models import (
    ModelCreated,
    ModelDeleted,
    ModelRecord,
    ModelUpdated,
    RuntimeSettings,
    RuntimeSettingsUpdated,
)
from llmctl_infra.testing import async_wait_until
from llmctl_libs.store import Database
from llmctl_models.tables import store

from .conftest import SECRET_ENV, ModelsClient


async def drained(database_url: str) -> None:
    """Wait until the outbox has published everything committed so far."""
    db = Database(database_url)

    async def empty() -> bool:
        async with db.engine.connect() as conn:
            left = (
                await conn.execute(
                    sa.select(sa.func.count())
                    .select_from(store.outbox)
                    .where(store.outbox.c.published_at.is_(None))
                )
            ).scalar_one()
        return int(left) == 0

    try:
        await async_wait_until(empty, timeout=20, what="outbox drained")
    finally:
        await db.dispose()


async def stream_count(models: ModelsClient, subject_filter: str) -> int:
    info = await models.bus.js.stream_info(subj.EVT_STREAM, subjects_filter=subject_filter)
    return sum((info.state.subjects or {}).values())


async def last_payload(models: ModelsClient, subject: str) -> tuple[str, Any]:
    raw = await models.bus.js.get_last_msg(subj.EVT_STREAM, subject)
    assert raw.data is not None
    envelope = decode_envelope(raw.data)
    return envelope.type, decode_payload(envelope)


async def test_each_model_change_is_published_once(models: ModelsClient) -> None:
    key = uuid.uuid4().hex
    body = {
        "name": f"ev{key[:10]}",
        "provider": "openai",
        "provider_model_id": "gpt-4.1",
        "secret_ref": {"kind": "env", "name": SECRET_ENV},
        "idempotency_key": key,
        "request_id": "req-1",
    }
    record = await models.call("model.create", body, ModelRecord)
    await models.call("model.create", body, ModelRecord)  # replay: no new event
    update = {"id": record.id, "expected_version": 1, "capability_tags": ["json"]}
    await models.call("model.update", {**update, "idempotency_key": f"{key}-u"}, ModelRecord)
    await models.call("model.update", {**update, "idempotency_key": f"{key}-u"}, ModelRecord)
    await models.call(  # no change: no event
        "model.update",
        {"id": record.id, "expected_version": 2, "capability_tags": ["json"]},
        ModelRecord,
    )
    await models.call("model.delete", {"id": record.id, "idempotency_key": f"{key}-d"}, ModelRecord)
    await models.call("model.delete", {"id": record.id, "idempotency_key": f"{key}-d"}, ModelRecord)
    await drained(models.database_url)

    prefix = f"llmctl.evt.config.model.{record.id}"
    assert await stream_count(models, f"{prefix}.>") == 3
    for action in ("created", "updated", "deleted"):
        assert await stream_count(models, f"{prefix}.{action}") == 1

    kind, created = await last_payload(models, subj.config_event("model", record.id, "created"))
    assert kind == MessageType.MODEL_CREATED
    assert socket_event_name(kind) == "config:model:created"
    assert isinstance(created, ModelCreated)
    assert created.model.id == record.id
    kind, updated = await last_payload(models, subj.config_event("model", record.id, "updated"))
    assert isinstance(updated, ModelUpdated)
    assert updated.changed_fields == ["capability_tags"]
    assert updated.model.version == 2
    kind, deleted = await last_payload(models, subj.config_event("model", record.id, "deleted"))
    assert isinstance(deleted, ModelDeleted)
    assert (deleted.model_id, deleted.version) == (record.id, 2)

    db = Database(models.database_url)
    async with db.engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(store.events.c.version, store.events.c.type)
                .where(store.events.c.stream_id == f"model:{record.id}")
                .order_by(store.events.c.version)
            )
        ).all()
        first = (
            await conn.execute(
                sa.select(store.events.c.envelope).where(
                    store.events.c.stream_id == f"model:{record.id}", store.events.c.version == 1
                )
            )
        ).scalar_one()
    await db.dispose()
    assert [tuple(r) for r in rows] == [
        (1, "model.created"),
        (2, "model.updated"),
        (3, "model.deleted"),
    ]
    assert decode_envelope(first).request_id == "req-1"


async def test_runtime_settings_get_update_and_events(models: ModelsClient) -> None:
    current = await models.call("runtime_settings.get", {}, RuntimeSettings)
    subject = subj.config_event("runtime_settings", "default", "updated")
    before = await stream_count(models, subject)
    if current.version == 0:
        assert current.dispatch.dispatch_timeout_seconds == 300
        assert current.dispatch.execution_timeout_seconds == 1800
        assert current.dispatch.cancel_grace_seconds == 15
        assert current.dispatch.k8s_job_ttl_seconds == 1800
        assert current.frontier.image == "llmctl-executor-frontier"
        assert current.vllm.image == "llmctl-executor-vllm"
    change = {
        "expected_version": current.version,
        "vllm": {"image": "harbor.local/llmctl-executor-vllm", "tag": "0.9.1"},
        "dispatch": {**msgspec.to_builtins(current.dispatch), "k8s_gpu_limit": 2},
        "idempotency_key": uuid.uuid4().hex,
    }
    saved = await models.call("runtime_settings.update", change, RuntimeSettings)
    assert saved.version == current.version + 1
    assert saved.vllm.tag == "0.9.1"
    assert saved.frontier == current.frontier
    assert saved.dispatch.k8s_gpu_limit == 2
    assert await models.call("runtime_settings.update", change, RuntimeSettings) == saved
    assert await models.call("runtime_settings.get", {}, RuntimeSettings) == saved
    await drained(models.database_url)
    assert await stream_count(models, subject) == before + 1
    kind, payload = await last_payload(models, subject)
    assert isinstance(payload, RuntimeSettingsUpdated)
    assert payload.changed_sections == ["dispatch", "vllm"]
    assert socket_event_name(kind) == "config:runtime_settings:updated"
