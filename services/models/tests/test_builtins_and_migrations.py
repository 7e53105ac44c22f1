"""Built-in models from the environment, and upgrading a database created by revision 0001."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from llmctl_contracts import ErrorCode
from llmctl_contracts.commands import ModelBinding
from llmctl_contracts.models import ModelPage, ModelRecord, RuntimeSettings
from llmctl_contracts.rpc import ResolveModel
from llmctl_libs.rpc import RpcError
from llmctl_libs.store import store_tables

from .conftest import SECRET_ENV, ModelsClient, serve_models


@pytest.fixture
def builtin_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-builtin-test")
    monkeypatch.setenv("LLMCTL_DEMO_LLM_URL", "http://127.0.0.1:1/v1")
    monkeypatch.delenv("LLMCTL_OPENAI_DEFAULT_MODEL", raising=False)


async def test_builtins_are_registered_resolvable_and_read_only(
    builtin_env: None, fresh_models: ModelsClient
) -> None:
    page = await fresh_models.call("model.list", {}, ModelPage)
    assert [m.name for m in page.items] == ["offline-demo", "openai-default"]
    assert all(m.builtin for m in page.items)
    default = await fresh_models.call("model.resolve", ResolveModel(), ModelBinding)
    assert default.name == "openai-default"
    assert default.api_key_ref == "OPENAI_API_KEY"
    demo = await fresh_models.call("model.resolve", ResolveModel(name="offline-demo"), ModelBinding)
    assert demo.base_url == "http://127.0.0.1:1/v1"
    assert demo.api_key_ref == "LLMCTL_DEMO_LLM_API_KEY"
    with pytest.raises(RpcError) as caught:
        await fresh_models.call(
            "model.update",
            {"id": page.items[0].id, "expected_version": 1, "capability_tags": ["x"]},
            ModelRecord,
        )
    assert caught.value.body.code is ErrorCode.CONFLICT
    with pytest.raises(RpcError) as caught:
        await fresh_models.call("model.delete", {"id": page.items[0].id}, ModelRecord)
    assert caught.value.body.code is ErrorCode.CONFLICT


_OLD_MODELS_TABLE = """
CREATE TABLE models.models (
    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, provider TEXT NOT NULL,
    provider_model_id TEXT NOT NULL, base_url TEXT, api_key_ref TEXT,
    settings JSONB NOT NULL DEFAULT '{}', is_default BOOLEAN NOT NULL DEFAULT false,
    builtin BOOLEAN NOT NULL DEFAULT false, created_at TIMESTAMPTZ NOT NULL DEFAULT now())
"""


@pytest.fixture
def revision_0001_database(database_url: str) -> str:
    """A database as revision 0001 left it before model management (one model in it)."""
    engine = sa.create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE SCHEMA models"))
        conn.execute(sa.text(_OLD_MODELS_TABLE))
        store_tables("models").metadata.create_all(conn)
        conn.execute(sa.text("CREATE TABLE models.alembic_version (version_num VARCHAR(32))"))
        conn.execute(sa.text("INSERT INTO models.alembic_version VALUES ('0001')"))
        conn.execute(
            sa.text(
                "INSERT INTO models.models (id, name, provider, provider_model_id, api_key_ref,"
                " is_default) VALUES ('old-1', 'legacy-gpt', 'openai', 'gpt-4o', :ref, true)"
            ),
            {"ref": SECRET_ENV},
        )
    engine.dispose()
    return database_url


async def test_revision_0002_upgrades_a_0001_database(
    nats_url: str, revision_0001_database: str
) -> None:
    async for models in serve_models(nats_url, revision_0001_database):
        old = await models.call("model.get", {"id": "old-1"}, ModelRecord)
        assert old.secret_ref is not None
        assert (old.secret_ref.kind, old.secret_ref.name) == ("env", SECRET_ENV)
        assert (old.version, old.settings_schema_version, old.capability_tags) == (1, 1, [])
        assert old.drift is not None  # saved before the openai v2 schema
        binding = await models.call("model.resolve", ResolveModel(), ModelBinding)
        assert binding.name == "legacy-gpt"
        created = await models.call(
            "model.create",
            {
                "name": "new-one",
                "provider": "openai",
                "provider_model_id": "gpt-4.1",
                "default_alias": "fresh",
                "secret_ref": {"kind": "env", "name": SECRET_ENV},
                "idempotency_key": "k1",
            },
            ModelRecord,
        )
        assert created.default_alias == "fresh"
        with pytest.raises(RpcError) as caught:  # alias uniqueness holds on upgraded databases
            await models.call(
                "model.create",
                {
                    **{"name": "other", "provider": "vllm", "provider_model_id": "m"},
                    "default_alias": "fresh",
                },
                ModelRecord,
            )
        assert caught.value.body.code is ErrorCode.CONFLICT
        engine = sa.create_engine(revision_0001_database)
        with engine.connect() as conn:
            indexes = conn.execute(
                sa.text("SELECT indexname FROM pg_indexes WHERE schemaname = 'models'")
            ).scalars()
            assert "models_default_alias_key" in set(indexes)
        engine.dispose()
        saved = await models.call(
            "runtime_settings.update",
            {"expected_version": 0, "dispatch": {"k8s_namespace": "llmctl"}},
            RuntimeSettings,
        )
        assert saved.version == 1
