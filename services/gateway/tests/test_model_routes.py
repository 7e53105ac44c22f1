"""Model-management REST endpoints against the real models service (real NATS + Postgres)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from gateway_testkit import assert_error

from llmctl_infra.testing import create_database, unique_database_name
from llmctl_libs.service import ServiceContext
from llmctl_libs.testing.service import running_service
from llmctl_models.app import DEFINITION
from llmctl_models.tables import models as models_table

KEY_ENV = "LLMCTL_GATEWAY_TEST_MODEL_KEY"


@pytest.fixture(scope="module", autouse=True)
def model_key_env() -> Iterator[None]:
    os.environ[KEY_ENV] = "gateway-test-key"
    try:
        yield
    finally:
        os.environ.pop(KEY_ENV, None)


@pytest.fixture(scope="module")
async def models_service(
    gateway_nats_url: str, postgres_admin_url: str, model_key_env: None
) -> AsyncIterator[ServiceContext]:
    """The real models service on the gateway's NATS, with a database of its own."""
    database_url = create_database(postgres_admin_url, unique_database_name("gwmodels"))
    async with running_service(
        DEFINITION, nats_url=gateway_nats_url, database_url=database_url
    ) as ctx:
        yield ctx


@pytest.fixture
def api(models_service: ServiceContext, http: httpx.AsyncClient) -> httpx.AsyncClient:
    """The gateway's HTTP client, with the models service running behind it."""
    return http


def unique(prefix: str = "g") -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


def model_body(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "provider": "openai",
        "provider_model_id": "gpt-4.1-mini",
        "secret_ref": {"kind": "env", "name": KEY_ENV},
        **extra,
    }


async def create(api: httpx.AsyncClient, body: dict[str, Any], **kw: Any) -> dict[str, Any]:
    response = await api.post("/api/v1/models", json=body, **kw)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def field_of(body: dict[str, Any]) -> str:
    return str(body["error"]["details"][0]["field"])


# --- providers ------------------------------------------------------------------------------


async def test_providers(api: httpx.AsyncClient) -> None:
    listed = await api.get("/api/v1/providers")
    assert listed.status_code == 200
    body = listed.json()
    assert body["ok"] is True
    assert body["correlation_id"] == listed.headers["x-correlation-id"]
    assert [p["name"] for p in body["data"]] == ["openai", "anthropic", "gemini", "vertex", "vllm"]
    vllm = (await api.get("/api/v1/providers/vllm")).json()["data"]
    names = {f["name"] for f in vllm["versions"][-1]["fields"]}
    assert {"dtype", "max_model_len", "gpu_memory_utilization"} <= names
    missing = assert_error(await api.get("/api/v1/providers/cohere"), 404, "not_found")
    assert field_of(missing) == "path.provider"


# --- CRUD -----------------------------------------------------------------------------------


async def test_create_get_update_delete(api: httpx.AsyncClient) -> None:
    created = await create(api, model_body(unique(), capability_tags=["tools"]))
    assert created["version"] == 1
    assert created["settings_schema_version"] == 2
    model_url = f"/api/v1/models/{created['id']}"
    fetched = await api.get(model_url)
    assert fetched.json()["data"] == created
    updated = await api.patch(
        model_url, json={"expected_version": 1, "settings": {"reasoning_effort": "low"}}
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["data"]["version"] == 2
    assert updated.json()["data"]["settings"]["reasoning_effort"] == "low"
    deleted = await api.delete(model_url, params={"expected_version": 2})
    assert deleted.status_code == 200
    assert deleted.json()["data"]["id"] == created["id"]
    assert_error(await api.get(model_url), 404, "not_found")


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"provider": "cohere"}, "body.provider", "Invalid enum value"),
        ({"settings": {"temperature": 7}}, "body.settings.temperature", "at most 2"),
        ({"settings": {"thinking_budget": 1}}, "body.settings.thinking_budget", "not a setting"),
        (
            {"secret_ref": {"kind": "env", "name": "LLMCTL_GATEWAY_TEST_UNSET"}},
            "body.secret_ref.name",
            "LLMCTL_GATEWAY_TEST_UNSET is not set",
        ),
        ({"secret_ref": None}, "body.secret_ref", "credential reference"),
        ({"name": "has space"}, "body.name", "regex"),
        ({"capability_tags": "tools"}, "body.capability_tags", "Expected `array`"),
    ],
)
async def test_create_validation_errors_name_the_field(
    api: httpx.AsyncClient, change: dict[str, Any], field: str, reason: str
) -> None:
    response = await api.post("/api/v1/models", json={**model_body(unique()), **change})
    body = assert_error(response, 422, "validation_failed")
    assert field_of(body) == field
    assert reason in body["error"]["details"][0]["reason"]


async def test_malformed_and_unknown_fields(api: httpx.AsyncClient) -> None:
    assert_error(
        await api.post(
            "/api/v1/models", content=b"{nope", headers={"content-type": "application/json"}
        ),
        400,
        "malformed",
    )
    unknown = assert_error(
        await api.post("/api/v1/models", json={**model_body(unique()), "api_key": "x"}),
        422,
        "validation_failed",
    )
    assert unknown["error"]["details"] == [{"field": "body.api_key", "reason": "unknown field"}]
    missing = assert_error(
        await api.post("/api/v1/models", json={"provider": "openai"}), 422, "validation_failed"
    )
    assert missing["error"]["details"] == [
        {"field": "body.name", "reason": "required field is missing"}
    ]


async def test_conflicts_and_not_found(api: httpx.AsyncClient) -> None:
    first = await create(api, model_body(unique(), default_alias=unique("al")))
    dup = assert_error(
        await api.post("/api/v1/models", json=model_body(first["name"])), 409, "conflict"
    )
    assert field_of(dup) == "body.name"
    alias = assert_error(
        await api.post("/api/v1/models", json=model_body(unique(), default_alias=first["name"])),
        409,
        "conflict",
    )
    assert field_of(alias) == "body.default_alias"
    url = f"/api/v1/models/{first['id']}"
    stale = assert_error(
        await api.patch(url, json={"expected_version": 4, "name": unique()}), 409, "conflict"
    )
    assert field_of(stale) == "body.expected_version"
    provider = assert_error(
        await api.patch(url, json={"expected_version": 1, "provider": "vllm"}),
        422,
        "validation_failed",
    )
    assert field_of(provider) == "body.provider"
    assert "cannot change" in provider["error"]["message"]
    stale_delete = assert_error(
        await api.delete(url, params={"expected_version": 3}), 409, "conflict"
    )
    assert field_of(stale_delete) == "query.expected_version"
    for response in (
        await api.get("/api/v1/models/nope"),
        await api.patch("/api/v1/models/nope", json={"expected_version": 1}),
        await api.delete("/api/v1/models/nope"),
    ):
        assert field_of(assert_error(response, 404, "not_found")) == "path.model_id"
    no_version = assert_error(
        await api.patch(url, json={"name": unique()}), 422, "validation_failed"
    )
    assert field_of(no_version) == "body.expected_version"


# --- listing --------------------------------------------------------------------------------


async def test_list_defaults_pagination_and_filters(api: httpx.AsyncClient) -> None:
    tag = unique("t")
    for n in range(27):
        await create(api, model_body(f"{tag}-{n:02d}", capability_tags=[tag]))
    first = (await api.get("/api/v1/models", params={"capability": tag})).json()["data"]
    assert (first["total"], first["page"], first["page_size"]) == (27, 1, 25)
    assert [m["name"] for m in first["items"]] == [f"{tag}-{n:02d}" for n in range(25)]
    second = (await api.get("/api/v1/models", params={"capability": tag, "page": 2})).json()
    assert [m["name"] for m in second["data"]["items"]] == [f"{tag}-25", f"{tag}-26"]
    past = (await api.get("/api/v1/models", params={"capability": tag, "page": 9})).json()
    assert past["data"]["items"] == []
    assert past["data"]["total"] == 27
    desc = (
        await api.get(
            "/api/v1/models",
            params={"capability": tag, "sort": "-name", "page_size": 100, "q": ""},
        )
    ).json()["data"]
    assert [m["name"] for m in desc["items"]] == [f"{tag}-{n:02d}" for n in reversed(range(27))]
    searched = (await api.get("/api/v1/models", params={"q": f"{tag}-1"})).json()["data"]
    assert searched["total"] == 10
    none = await api.get("/api/v1/models", params={"capability": tag, "provider": "vllm"})
    assert none.json()["data"]["total"] == 0


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"page_size": "0"}, "query.page_size"),
        ({"page_size": "101"}, "query.page_size"),
        ({"page_size": "ten"}, "query.page_size"),
        ({"page": "0"}, "query.page"),
        ({"page": "x"}, "query.page"),
        ({"sort": "price"}, "query.sort"),
        ({"sort": "-"}, "query.sort"),
        ({"provider": "cohere"}, "query.provider"),
        ({"capability": "NOT OK"}, "query.capability"),
    ],
)
async def test_bad_list_params_name_the_param(
    api: httpx.AsyncClient, params: dict[str, str], field: str
) -> None:
    body = assert_error(await api.get("/api/v1/models", params=params), 422, "validation_failed")
    assert field_of(body) == field


# --- drift ----------------------------------------------------------------------------------


async def test_drift_notice_is_served(
    api: httpx.AsyncClient, models_service: ServiceContext
) -> None:
    created = await create(api, model_body(unique()))
    async with models_service.require_persistence().database.transaction() as conn:
        await conn.execute(
            sa.update(models_table)
            .where(models_table.c.id == created["id"])
            .values(settings_schema_version=1, settings={})
        )
    data = (await api.get(f"/api/v1/models/{created['id']}")).json()["data"]
    assert data["drift"]["snapshot_version"] == 1
    assert data["drift"]["current_version"] == 2
    assert data["drift"]["new_fields"] == ["verbosity", "service_tier"]
    listed = (await api.get("/api/v1/models", params={"q": created["name"]})).json()["data"]
    assert listed["items"][0]["drift"] == data["drift"]


# --- idempotency ----------------------------------------------------------------------------


async def test_idempotency_key_on_every_mutation(api: httpx.AsyncClient) -> None:
    body = model_body(unique())
    key = {"Idempotency-Key": unique("k")}
    first = await create(api, body, headers=key)
    assert await create(api, body, headers=key) == first
    mismatch = assert_error(
        await api.post("/api/v1/models", json={**body, "provider_model_id": "o3"}, headers=key),
        422,
        "idempotency_mismatch",
    )
    assert field_of(mismatch) == "header.Idempotency-Key"

    url = f"/api/v1/models/{first['id']}"
    change = {"expected_version": 1, "capability_tags": ["json"]}
    patch_key = {"Idempotency-Key": unique("p")}
    patched = await api.patch(url, json=change, headers=patch_key)
    again = await api.patch(url, json=change, headers=patch_key)
    assert again.status_code == 200
    assert again.json()["data"] == patched.json()["data"]
    assert_error(
        await api.patch(url, json={**change, "capability_tags": ["x"]}, headers=patch_key),
        422,
        "idempotency_mismatch",
    )

    delete_key = {"Idempotency-Key": unique("d")}
    gone = await api.delete(url, headers=delete_key)
    repeat = await api.delete(url, headers=delete_key)
    assert repeat.status_code == 200
    assert repeat.json()["data"] == gone.json()["data"]
    assert_error(await api.delete(url), 404, "not_found")

    settings = (await api.get("/api/v1/runtime-settings")).json()["data"]
    put_body = {"expected_version": settings["version"], "vllm": {"image": "v", "tag": "1"}}
    put_key = {"Idempotency-Key": unique("r")}
    saved = await api.put("/api/v1/runtime-settings", json=put_body, headers=put_key)
    assert saved.status_code == 200, saved.text
    replay = await api.put("/api/v1/runtime-settings", json=put_body, headers=put_key)
    assert replay.json()["data"] == saved.json()["data"]
    assert_error(
        await api.put(
            "/api/v1/runtime-settings",
            json={**put_body, "vllm": {"image": "v", "tag": "2"}},
            headers=put_key,
        ),
        422,
        "idempotency_mismatch",
    )


# --- validate-provider-settings ---------------------------------------------------------------


async def test_validate_provider_settings(api: httpx.AsyncClient) -> None:
    url = "/api/v1/models/validate-provider-settings"
    ok = await api.post(
        url,
        json={"provider": "vertex", "settings": {"project": "acme", "thinking_budget": 0}},
    )
    assert ok.status_code == 200
    assert ok.json()["data"]["valid"] is True
    assert ok.json()["data"]["settings"]["location"] == "us-central1"
    bad = (await api.post(url, json={"provider": "vertex", "settings": {"location": "eu"}})).json()[
        "data"
    ]
    assert bad["valid"] is False
    assert [e["field"] for e in bad["errors"]] == ["body.settings.project"]
    body = assert_error(await api.post(url, json={"provider": "nope"}), 422, "validation_failed")
    assert field_of(body) == "body.provider"


# --- runtime settings -----------------------------------------------------------------------


async def test_runtime_settings(api: httpx.AsyncClient) -> None:
    current = (await api.get("/api/v1/runtime-settings")).json()["data"]
    assert set(current) >= {"version", "frontier", "vllm", "dispatch"}
    assert current["dispatch"]["cancel_grace_seconds"] == 15
    new_dispatch = {**current["dispatch"], "k8s_namespace": "llmctl", "k8s_gpu_limit": 1}
    saved = await api.put(
        "/api/v1/runtime-settings",
        json={"expected_version": current["version"], "dispatch": new_dispatch},
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["data"]["version"] == current["version"] + 1
    assert saved.json()["data"]["dispatch"]["k8s_namespace"] == "llmctl"
    stale = assert_error(
        await api.put(
            "/api/v1/runtime-settings",
            json={"expected_version": current["version"], "dispatch": new_dispatch},
        ),
        409,
        "conflict",
    )
    assert field_of(stale) == "body.expected_version"
    bad = assert_error(
        await api.put(
            "/api/v1/runtime-settings",
            json={"expected_version": 1, "dispatch": {"k8s_gpu_limit": 12}},
        ),
        422,
        "validation_failed",
    )
    assert field_of(bad) == "body.dispatch.k8s_gpu_limit"
