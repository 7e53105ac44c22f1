"""Secrets scan: a credential's value never appears in a response, event, record or log line.

A distinctive value sits in the environment variable (and in the mounted secret file) that
models reference; every model endpoint and RPC is exercised, good and bad input, including a
live probe that really uses the credential; then every HTTP response, RPC reply, JetStream
message, models-schema row and log record is searched for it.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import msgspec
import pytest
import sqlalchemy as sa

from llmctl_contracts import encode, subjects
from llmctl_contracts.rpc import ResolveModel
from llmctl_infra.testing import (
    async_wait_until,
    create_database,
    demo_llm_server,
    unique_database_name,
)
from llmctl_libs.bus import Bus
from llmctl_libs.service import ServiceContext
from llmctl_libs.testing.service import running_service
from llmctl_models.app import DEFINITION
from llmctl_models.tables import metadata, store

CANARY = f"sk-canary-{uuid.uuid4().hex}"
FILE_CANARY = f"sk-file-canary-{uuid.uuid4().hex}"
ENV_NAME = "LLMCTL_SECRET_SCAN_KEY"
FILE_NAME = "scan-key"


@pytest.fixture(scope="module")
def secret_values(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    secrets_dir = tmp_path_factory.mktemp("secrets")
    (secrets_dir / FILE_NAME).write_text(FILE_CANARY)
    os.environ[ENV_NAME] = CANARY
    os.environ["LLMCTL_SECRETS_DIR"] = str(secrets_dir)
    try:
        yield
    finally:
        os.environ.pop(ENV_NAME, None)
        os.environ.pop("LLMCTL_SECRETS_DIR", None)


@pytest.fixture(scope="module")
async def scanned_service(
    secret_values: None, gateway_nats_url: str, postgres_admin_url: str
) -> AsyncIterator[ServiceContext]:
    database_url = create_database(postgres_admin_url, unique_database_name("secrets"))
    async with running_service(
        DEFINITION, nats_url=gateway_nats_url, database_url=database_url
    ) as ctx:
        yield ctx


class Transcript:
    """Everything the system said while the test ran."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def response(self, response: httpx.Response) -> httpx.Response:
        self.texts.append(response.text)
        self.texts.extend(f"{k}: {v}" for k, v in response.headers.items())
        return response

    def leaks(self) -> list[str]:
        return [t for t in self.texts if CANARY in t or FILE_CANARY in t]


async def exercise_http(http: httpx.AsyncClient, seen: Transcript, llm_url: str) -> None:
    env_ref = {"kind": "env", "name": ENV_NAME}
    file_ref = {"kind": "secret", "name": FILE_NAME}
    tag = uuid.uuid4().hex[:10]

    async def call(method: str, url: str, **kw: Any) -> httpx.Response:
        return seen.response(await http.request(method, url, **kw))

    await call("GET", "/api/v1/providers")
    await call("GET", "/api/v1/providers/openai")
    created = await call(
        "POST",
        "/api/v1/models",
        json={
            "name": f"s{tag}",
            "provider": "openai",
            "provider_model_id": "offline-demo",
            "base_url": llm_url,
            "secret_ref": env_ref,
        },
        headers={"Idempotency-Key": f"k{tag}"},
    )
    assert created.status_code == 201, created.text
    model_id = created.json()["data"]["id"]
    by_file = await call(
        "POST",
        "/api/v1/models",
        json={
            "name": f"f{tag}",
            "provider": "anthropic",
            "provider_model_id": "claude",
            "secret_ref": file_ref,
            "is_default": True,
        },
    )
    assert by_file.status_code == 201, by_file.text
    # bad input that mentions the reference
    assert (
        await call(
            "POST",
            "/api/v1/models",
            json={
                "name": f"b{tag}",
                "provider": "openai",
                "provider_model_id": "x",
                "secret_ref": env_ref,
                "settings": {"temperature": 99},
            },
        )
    ).status_code == 422
    assert (
        await call(
            "POST",
            "/api/v1/models",
            json={
                "name": f"s{tag}",
                "provider": "openai",
                "provider_model_id": "x",
                "secret_ref": env_ref,
            },
        )
    ).status_code == 409
    await call("GET", "/api/v1/models", params={"q": tag})
    await call("GET", f"/api/v1/models/{model_id}")
    patched = await call(
        "PATCH",
        f"/api/v1/models/{model_id}",
        json={"expected_version": 1, "secret_ref": env_ref, "capability_tags": ["json"]},
    )
    assert patched.status_code == 200, patched.text
    probe = await call(
        "POST",
        "/api/v1/models/validate-provider-settings",
        json={
            "provider": "openai",
            "base_url": llm_url,
            "secret_ref": env_ref,
            "probe": True,
            "provider_model_id": "offline-demo",
        },
    )
    assert probe.json()["data"]["probe"]["status"] == "ok"  # the credential was really used
    await call(
        "POST",
        "/api/v1/models/validate-provider-settings",
        json={"provider": "anthropic", "secret_ref": file_ref, "settings": {"bogus": 1}},
    )
    current = (await call("GET", "/api/v1/runtime-settings")).json()["data"]
    await call(
        "PUT",
        "/api/v1/runtime-settings",
        json={"expected_version": current["version"], "frontier": {"image": "f", "tag": tag}},
    )
    assert (await call("DELETE", f"/api/v1/models/{model_id}")).status_code == 200


async def exercise_rpc(bus: Bus, seen: Transcript) -> None:
    operations: list[tuple[str, Any]] = [
        ("provider.list", {}),
        ("provider.get", {"name": "gemini"}),
        ("model.list", {"page_size": 100}),
        ("model.resolve", ResolveModel(name=None)),
        ("runtime_settings.get", {}),
        (
            "model.validate_provider_settings",
            {"provider": "gemini", "secret_ref": {"kind": "env", "name": ENV_NAME}},
        ),
    ]
    listed = await bus.request(
        subjects.rpc("models", "model.list"), encode({"page_size": 100}), timeout=5
    )
    for item in msgspec.json.decode(listed)["result"]["items"]:
        operations.append(("model.get", {"id": item["id"]}))
        operations.append(("model.resolve", {"name": item["name"]}))
    for op, body in operations:
        reply = await bus.request(subjects.rpc("models", op), encode(body), timeout=5)
        seen.texts.append(reply.decode())
        assert b'"ok":true' in reply, (op, reply)


async def jetstream_messages(bus: Bus, service: ServiceContext) -> list[str]:
    db = service.require_persistence().database

    async def drained() -> bool:
        async with db.engine.connect() as conn:
            left = (
                await conn.execute(
                    sa.select(sa.func.count())
                    .select_from(store.outbox)
                    .where(store.outbox.c.published_at.is_(None))
                )
            ).scalar_one()
        return int(left) == 0

    await async_wait_until(drained, timeout=20, what="outbox drained")
    info = await bus.js.stream_info(subjects.EVT_STREAM)
    texts: list[str] = []
    configs = 0
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        msg = await bus.js.get_msg(subjects.EVT_STREAM, seq)
        texts.append(f"{msg.subject} {(msg.data or b'').decode()} {msg.headers}")
        configs += (msg.subject or "").startswith("llmctl.evt.config.")
    assert configs >= 5  # 2 creates, 1 update, 1 delete, 1 runtime settings update
    return texts


async def stored_rows(service: ServiceContext) -> list[str]:
    texts: list[str] = []
    async with service.require_persistence().database.engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in (await conn.execute(sa.select(table))).all():
                for value in row:
                    texts.append(value.decode() if isinstance(value, bytes) else str(value))
    assert texts
    return texts


async def test_no_secret_in_responses_events_rows_or_logs(
    scanned_service: ServiceContext,
    http: httpx.AsyncClient,
    gateway_bus: Bus,
) -> None:
    # Litestar apps (the gateway, the demo model) replace the root logger's handlers when
    # they start, which would detach pytest's caplog handler: start both, then listen.
    await http.get("/api/v1/health")
    async with demo_llm_server() as llm:
        records = RecordList()
        root = logging.getLogger()
        old_level = root.level
        root.addHandler(records)
        root.setLevel(logging.DEBUG)
        try:
            seen = await exercise_everything(scanned_service, http, gateway_bus, llm.base_url)
        finally:
            root.removeHandler(records)
            root.setLevel(old_level)
    seen.texts.extend(records.formatted)
    assert any("llmctl" in line or "httpx" in line for line in records.formatted)
    assert seen.leaks() == []
    # the scan can see the value where it does belong: the service's environment
    assert os.environ[ENV_NAME] == CANARY


class RecordList(logging.Handler):
    """Keeps every log record, formatted with its arguments and exception text."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.formatted: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.formatted.append(self.format(record))


async def exercise_everything(
    scanned_service: ServiceContext, http: httpx.AsyncClient, gateway_bus: Bus, llm_url: str
) -> Transcript:
    seen = Transcript()
    await exercise_http(http, seen, llm_url)
    await exercise_rpc(gateway_bus, seen)
    seen.texts.extend(await jetstream_messages(gateway_bus, scanned_service))
    seen.texts.extend(await stored_rows(scanned_service))
    return seen
