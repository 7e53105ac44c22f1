"""Every models operation over the real bus (real NATS and Postgres): good and bad input."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import msgspec
import pytest
import sqlalchemy as sa

from llmctl_contracts import ErrorCode, encode, subjects
from llmctl_contracts.commands import ModelBinding
from llmctl_contracts.models import (
    ModelPage,
    ModelRecord,
    ProviderDescriptor,
    ProviderSettingsValidation,
)
from llmctl_contracts.rpc import ResolveModel, RpcReply
from llmctl_libs.rpc import RpcError
from llmctl_libs.store import Database
from llmctl_models.tables import models as models_table

from .conftest import MISSING_ENV, SECRET_ENV, ModelsClient


def unique(prefix: str = "m") -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


def openai_model(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "provider": "openai",
        "provider_model_id": "gpt-4.1-mini",
        "secret_ref": {"kind": "env", "name": SECRET_ENV},
        **extra,
    }


async def create(models: ModelsClient, body: dict[str, Any]) -> ModelRecord:
    return await models.call("model.create", body, ModelRecord)


async def failure(models: ModelsClient, op: str, body: Any) -> RpcError:
    with pytest.raises(RpcError) as caught:
        await models.call(op, body, dict)
    return caught.value


def fields_of(error: RpcError) -> dict[str, str]:
    return {d.field: d.reason for d in error.body.details}


# --- providers ------------------------------------------------------------------------------


async def test_provider_list_and_get(models: ModelsClient) -> None:
    listed = await models.call("provider.list", {}, list[ProviderDescriptor])
    assert [p.name for p in listed] == ["openai", "anthropic", "gemini", "vertex", "vllm"]
    vertex = await models.call("provider.get", {"name": "vertex"}, ProviderDescriptor)
    assert vertex.secret == "optional"
    assert "project" in {f.name for f in vertex.versions[-1].fields}
    error = await failure(models, "provider.get", {"name": "cohere"})
    assert error.body.code is ErrorCode.VALIDATION_FAILED
    assert "$.name" in fields_of(error)


# --- create / get ---------------------------------------------------------------------------


async def test_create_snapshots_the_current_schema_and_get_returns_it(
    models: ModelsClient,
) -> None:
    name = unique()
    record = await create(
        models,
        openai_model(
            name,
            default_alias=f"{name}-alias",
            capability_tags=["tools", "json", "tools"],
            settings={"reasoning_effort": "high"},
        ),
    )
    assert record.version == 1
    assert record.provider == "openai"
    assert record.settings_schema_version == 2
    assert record.settings == {"reasoning_effort": "high", "service_tier": "auto"}
    assert record.capability_tags == ["json", "tools"]
    assert record.secret_ref is not None
    assert record.secret_ref.name == SECRET_ENV
    assert record.drift is None
    assert record.created_at == record.updated_at
    fetched = await models.call("model.get", {"id": record.id}, ModelRecord)
    assert fetched == record


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"provider": "cohere"}, "$.provider", "Invalid enum value"),
        ({"settings": {"temperature": 9}}, "$.settings.temperature", "at most 2"),
        ({"settings": {"bogus": 1}}, "$.settings.bogus", "not a setting of openai"),
        ({"secret_ref": None}, "$.secret_ref", "need a credential reference"),
        (
            {"secret_ref": {"kind": "env", "name": MISSING_ENV}},
            "$.secret_ref.name",
            f"{MISSING_ENV} is not set in the models service environment",
        ),
        ({"secret_ref": {"kind": "vault", "name": "x"}}, "$.secret_ref.kind", "Invalid enum"),
        ({"name": "bad name!"}, "$.name", "matching regex"),
        ({"name": ""}, "$.name", "matching regex"),
        ({"capability_tags": ["Not A Tag"]}, "$.capability_tags[0]", "matching regex"),
        ({"base_url": "ftp://x"}, "$.base_url", "matching regex"),
        ({"unknown_field": 1}, "$", "unknown field"),
    ],
)
async def test_create_rejects_bad_input_naming_the_field(
    models: ModelsClient, change: dict[str, Any], field: str, reason: str
) -> None:
    error = await failure(models, "model.create", {**openai_model(unique()), **change})
    assert error.body.code is ErrorCode.VALIDATION_FAILED
    got = fields_of(error)
    assert any(f.startswith(field) and reason in r for f, r in got.items()), got


async def test_create_per_provider(models: ModelsClient) -> None:
    vllm = await create(
        models,
        {
            "name": unique(),
            "provider": "vllm",
            "provider_model_id": "Qwen/Qwen2.5-7B",
            "settings": {"dtype": "bfloat16", "max_model_len": 8192},
        },
    )
    assert vllm.secret_ref is None
    assert vllm.settings["gpu_memory_utilization"] == 0.9
    vertex = await create(
        models,
        {
            "name": unique(),
            "provider": "vertex",
            "provider_model_id": "gemini-2.5-pro",
            "settings": {"project": "acme"},
        },
    )
    assert vertex.settings["location"] == "us-central1"
    error = await failure(
        models,
        "model.create",
        {
            "name": unique(),
            "provider": "anthropic",
            "provider_model_id": "claude-sonnet-4",
            "secret_ref": {"kind": "env", "name": SECRET_ENV},
            "settings": {"thinking_enabled": True, "thinking_budget_tokens": 9000},
        },
    )
    assert "less than max_tokens" in fields_of(error)["$.settings.thinking_budget_tokens"]


async def test_duplicate_name_or_alias_conflicts(models: ModelsClient) -> None:
    first = await create(models, openai_model(unique(), default_alias=unique("a")))
    same_name = await failure(models, "model.create", openai_model(first.name))
    assert same_name.body.code is ErrorCode.CONFLICT
    assert "$.name" in fields_of(same_name)
    name_is_alias = await failure(models, "model.create", openai_model(first.default_alias or ""))
    assert name_is_alias.body.code is ErrorCode.CONFLICT
    alias_is_name = await failure(
        models, "model.create", openai_model(unique(), default_alias=first.name)
    )
    assert alias_is_name.body.code is ErrorCode.CONFLICT
    assert "$.default_alias" in fields_of(alias_is_name)
    own = await failure(models, "model.create", {**openai_model("x1"), "default_alias": "x1"})
    assert fields_of(own)["$.default_alias"] == "must differ from the name"


async def test_get_unknown_model_is_not_found(models: ModelsClient) -> None:
    error = await failure(models, "model.get", {"id": "no-such-model"})
    assert error.body.code is ErrorCode.NOT_FOUND
    assert "id" in fields_of(error)


# --- update ---------------------------------------------------------------------------------


async def test_update_changes_fields_and_bumps_the_version(models: ModelsClient) -> None:
    record = await create(models, openai_model(unique()))
    new_name = unique()
    updated = await models.call(
        "model.update",
        {
            "id": record.id,
            "expected_version": 1,
            "name": new_name,
            "provider": "openai",
            "settings": {"verbosity": "low"},
            "capability_tags": ["vision"],
        },
        ModelRecord,
    )
    assert updated.version == 2
    assert updated.name == new_name
    assert updated.settings == {"verbosity": "low", "service_tier": "auto"}
    assert updated.capability_tags == ["vision"]
    assert updated.provider_model_id == record.provider_model_id
    assert updated.updated_at > record.updated_at
    # nothing changed: no new version
    same = await models.call(
        "model.update", {"id": record.id, "expected_version": 2, "name": new_name}, ModelRecord
    )
    assert same.version == 2


async def test_update_errors(models: ModelsClient) -> None:
    record = await create(models, openai_model(unique()))
    stale = await failure(
        models, "model.update", {"id": record.id, "expected_version": 7, "name": unique()}
    )
    assert stale.body.code is ErrorCode.CONFLICT
    assert "version 1" in fields_of(stale)["$.expected_version"]
    provider = await failure(
        models, "model.update", {"id": record.id, "expected_version": 1, "provider": "anthropic"}
    )
    assert provider.body.code is ErrorCode.VALIDATION_FAILED
    assert "cannot change" in fields_of(provider)["$.provider"]
    settings = await failure(
        models,
        "model.update",
        {"id": record.id, "expected_version": 1, "settings": {"reasoning_effort": "max"}},
    )
    assert "$.settings.reasoning_effort" in fields_of(settings)
    secret = await failure(
        models,
        "model.update",
        {
            "id": record.id,
            "expected_version": 1,
            "secret_ref": {"kind": "env", "name": MISSING_ENV},
        },
    )
    assert "$.secret_ref.name" in fields_of(secret)
    missing = await failure(models, "model.update", {"id": "nope", "expected_version": 1})
    assert missing.body.code is ErrorCode.NOT_FOUND
    no_version = await failure(models, "model.update", {"id": record.id})
    assert "$.expected_version" in fields_of(no_version)
    after = await models.call("model.get", {"id": record.id}, ModelRecord)
    assert after == record


async def test_default_model_is_single_and_resolvable(models: ModelsClient) -> None:
    first = await create(models, openai_model(unique(), is_default=True))
    second = await create(models, openai_model(unique(), default_alias=unique("al")))
    assert (await models.call("model.resolve", ResolveModel(), ModelBinding)).name == first.name
    await models.call(
        "model.update", {"id": second.id, "expected_version": 1, "is_default": True}, ModelRecord
    )
    resolved = await models.call("model.resolve", ResolveModel(), ModelBinding)
    assert resolved.name == second.name
    assert (await models.call("model.get", {"id": first.id}, ModelRecord)).is_default is False
    by_alias = await models.call(
        "model.resolve", ResolveModel(name=second.default_alias), ModelBinding
    )
    assert by_alias.name == second.name
    assert by_alias.api_key_ref == SECRET_ENV
    unknown = await failure(models, "model.resolve", {"name": "no-such"})
    assert unknown.body.code is ErrorCode.NOT_FOUND


# --- drift ----------------------------------------------------------------------------------


async def test_drift_notice_on_reads_and_upgrade_clears_it(models: ModelsClient) -> None:
    record = await create(models, openai_model(unique(), settings={"temperature": 0.5}))
    # a model saved by a release whose openai schema was v1
    db = Database(models.database_url)
    async with db.transaction() as conn:
        await conn.execute(
            sa.update(models_table)
            .where(models_table.c.id == record.id)
            .values(settings_schema_version=1, settings={"temperature": 0.5})
        )
    await db.dispose()
    fetched = await models.call("model.get", {"id": record.id}, ModelRecord)
    assert fetched.drift is not None
    assert fetched.drift.snapshot_version == 1
    assert fetched.drift.current_version == 2
    assert fetched.drift.new_fields == ["verbosity", "service_tier"]
    page = await models.call("model.list", {"q": record.name}, ModelPage)
    assert page.items[0].drift == fetched.drift
    # edits stay on the snapshot's schema (v1 has no verbosity) ...
    refused = await failure(
        models,
        "model.update",
        {"id": record.id, "expected_version": 1, "settings": {"verbosity": "low"}},
    )
    assert "settings schema v1" in fields_of(refused)["$.settings.verbosity"]
    # ... unless the model moves to the current schema
    upgraded = await models.call(
        "model.update",
        {
            "id": record.id,
            "expected_version": 1,
            "settings": {"temperature": 0.5, "verbosity": "low"},
            "upgrade_settings_schema": True,
        },
        ModelRecord,
    )
    assert upgraded.drift is None
    assert upgraded.settings_schema_version == 2


# --- delete ---------------------------------------------------------------------------------


async def test_delete(models: ModelsClient) -> None:
    record = await create(models, openai_model(unique()))
    stale = await failure(models, "model.delete", {"id": record.id, "expected_version": 3})
    assert stale.body.code is ErrorCode.CONFLICT
    deleted = await models.call("model.delete", {"id": record.id}, ModelRecord)
    assert deleted.id == record.id
    gone = await failure(models, "model.get", {"id": record.id})
    assert gone.body.code is ErrorCode.NOT_FOUND
    again = await failure(models, "model.delete", {"id": record.id})
    assert again.body.code is ErrorCode.NOT_FOUND
    # the name is free again
    assert (await create(models, openai_model(record.name))).name == record.name


# --- idempotency ----------------------------------------------------------------------------


async def test_idempotent_create_update_delete(models: ModelsClient) -> None:
    body = openai_model(unique(), idempotency_key=unique("k"))
    first = await create(models, {**body, "request_id": "r1"})
    assert await create(models, {**body, "request_id": "r2"}) == first
    mismatch = await failure(models, "model.create", {**body, "provider_model_id": "gpt-5"})
    assert mismatch.body.code is ErrorCode.IDEMPOTENCY_MISMATCH
    assert "header.Idempotency-Key" in fields_of(mismatch)

    update = {"id": first.id, "expected_version": 1, "name": unique(), "idempotency_key": "u1"}
    updated = await models.call("model.update", update, ModelRecord)
    # the replay answers the first result, not a stale-version conflict
    assert await models.call("model.update", update, ModelRecord) == updated
    other = await failure(models, "model.update", {**update, "name": unique()})
    assert other.body.code is ErrorCode.IDEMPOTENCY_MISMATCH

    delete = {"id": first.id, "idempotency_key": unique("d")}
    deleted = await models.call("model.delete", delete, ModelRecord)
    assert await models.call("model.delete", delete, ModelRecord) == deleted
    page = await models.call("model.list", {"q": updated.name}, ModelPage)
    assert page.total == 0


async def test_a_failed_request_does_not_burn_its_key(models: ModelsClient) -> None:
    body = openai_model(unique(), idempotency_key=unique("k"), settings={"temperature": 5})
    await failure(models, "model.create", body)
    fixed = {**body, "settings": {"temperature": 1}}
    assert (await create(models, fixed)).settings["temperature"] == 1


# --- validate_provider_settings --------------------------------------------------------------


async def test_validate_provider_settings(models: ModelsClient) -> None:
    ok = await models.call(
        "model.validate_provider_settings",
        {
            "provider": "gemini",
            "settings": {"thinking_budget": 1024},
            "secret_ref": {"kind": "env", "name": SECRET_ENV},
        },
        ProviderSettingsValidation,
    )
    assert ok.valid
    assert ok.settings == {"thinking_budget": 1024, "include_thoughts": False}
    assert ok.probe is None
    bad = await models.call(
        "model.validate_provider_settings",
        {"provider": "vllm", "settings": {"mode": "remote", "dtype": "fp4"}},
        ProviderSettingsValidation,
    )
    assert not bad.valid
    assert [e.field for e in bad.errors] == ["$.settings.dtype"]
    no_secret = await models.call(
        "model.validate_provider_settings",
        {"provider": "anthropic", "secret_ref": {"kind": "env", "name": MISSING_ENV}},
        ProviderSettingsValidation,
    )
    assert [e.field for e in no_secret.errors] == ["$.secret_ref.name"]
    unknown = await failure(models, "model.validate_provider_settings", {"provider": "x"})
    assert "$.provider" in fields_of(unknown)


async def test_validate_probes_an_openai_compatible_endpoint(models: ModelsClient) -> None:
    from llmctl_infra.testing import demo_llm_server

    async with demo_llm_server() as llm:
        reachable = await models.call(
            "model.validate_provider_settings",
            {
                "provider": "openai",
                "base_url": llm.base_url,
                "provider_model_id": "offline-demo",
                "secret_ref": {"kind": "env", "name": SECRET_ENV},
                "probe": True,
            },
            ProviderSettingsValidation,
        )
    assert reachable.probe is not None
    assert reachable.probe.status == "ok"
    assert reachable.probe.model_found is True
    unreachable = await models.call(
        "model.validate_provider_settings",
        {
            "provider": "vllm",
            "settings": {"mode": "remote"},
            "base_url": "http://127.0.0.1:9/v1",
            "probe": True,
        },
        ProviderSettingsValidation,
    )
    assert unreachable.probe is not None
    assert unreachable.probe.status == "failed"
    skipped = await models.call(
        "model.validate_provider_settings",
        {"provider": "vllm", "probe": True},
        ProviderSettingsValidation,
    )
    assert skipped.probe is not None
    assert skipped.probe.status == "skipped"


async def test_malformed_request_gets_the_error_envelope(models: ModelsClient) -> None:
    raw = await models.bus.request(subjects.rpc("models", "model.create"), b"{not json", timeout=5)
    reply = msgspec.json.decode(raw, type=RpcReply)
    assert not reply.ok
    assert reply.error is not None
    assert reply.error.code is ErrorCode.MALFORMED
    raw = await models.bus.request(
        subjects.rpc("models", "model.list"), encode({"page_size": 0}), timeout=5
    )
    reply = msgspec.json.decode(raw, type=RpcReply)
    assert reply.error is not None
    assert reply.error.details[0].field == "$.page_size"


async def test_concurrent_writes_one_wins(models: ModelsClient) -> None:
    name = unique()
    outcomes = await asyncio.gather(
        *(models.call("model.create", openai_model(name), ModelRecord) for _ in range(4)),
        return_exceptions=True,
    )
    created = [o for o in outcomes if isinstance(o, ModelRecord)]
    assert len(created) == 1
    assert all(
        isinstance(o, RpcError) and o.body.code is ErrorCode.CONFLICT
        for o in outcomes
        if not isinstance(o, ModelRecord)
    )
    record = created[0]
    updates = await asyncio.gather(
        *(
            models.call(
                "model.update",
                {"id": record.id, "expected_version": 1, "provider_model_id": f"v{n}"},
                ModelRecord,
            )
            for n in range(4)
        ),
        return_exceptions=True,
    )
    won = [u for u in updates if isinstance(u, ModelRecord)]
    assert len(won) == 1
    assert won[0].version == 2
    final = await models.call("model.get", {"id": record.id}, ModelRecord)
    assert final.provider_model_id == won[0].provider_model_id
