"""Toolhub test fixtures: a migrated toolhub schema on the shared embedded Postgres."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest

from llmctl_contracts import ErrorBody, ErrorCode
from llmctl_contracts.commands import ModelBinding
from llmctl_contracts.flowchart import Node
from llmctl_infra.testing import (
    DemoLLMHandle,
    create_database,
    demo_llm_server,
    unique_database_name,
)
from llmctl_libs.rpc import RpcError
from llmctl_libs.store import Database
from llmctl_libs.store.migrations import migrate
from llmctl_toolhub.app import DEFINITION
from llmctl_toolhub.domains.catalog import operations_by_name
from llmctl_toolhub.nodes.invoker import ToolCallError
from llmctl_toolhub.nodes.llm import OpenAIModelCaller
from llmctl_toolhub.nodes.local_invoker import LocalToolInvoker


async def migrated_database(admin_url: str) -> Database:
    """A fresh database with toolhub's migrations applied."""
    url = create_database(admin_url, unique_database_name("toolhub"))
    assert DEFINITION.schema is not None
    assert DEFINITION.migrations is not None
    await asyncio.to_thread(
        migrate, url, schema=DEFINITION.schema, script_location=DEFINITION.migrations
    )
    return Database(url, pool_size=2)


@pytest.fixture(scope="module")
async def toolhub_db(postgres_admin_url: str) -> AsyncIterator[Database]:
    """One migrated toolhub database per test module (tests use their own ids/scopes)."""
    database = await migrated_database(postgres_admin_url)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
def tools(toolhub_db: Database) -> LocalToolInvoker:
    """The in-process tool invoker without call recording."""
    return LocalToolInvoker(toolhub_db, operations_by_name())


async def tool_error(tools: LocalToolInvoker, tool: str, arguments: dict[str, Any]) -> ErrorBody:
    """The error a call must fail with."""
    with pytest.raises(ToolCallError) as info:
        await tools(tool, arguments)
    return info.value.body


@pytest.fixture
def refused() -> Any:
    """``await refused(tools, tool, arguments)`` -> the ``ErrorBody`` of a failing call."""
    return tool_error


DEMO_KEY_ENV = "LLMCTL_TOOLHUB_TEST_DEMO_KEY"


@pytest.fixture(scope="module")
async def demo_llm() -> AsyncIterator[DemoLLMHandle]:
    """The offline demo model (OpenAI-compatible) served in-process."""
    async with demo_llm_server() as handle:
        yield handle


@pytest.fixture
def models(demo_llm: DemoLLMHandle, monkeypatch: pytest.MonkeyPatch) -> OpenAIModelCaller:
    """Model calls through the ``openai`` SDK to the demo model (key read from the env)."""
    monkeypatch.setenv(DEMO_KEY_ENV, "demo-key")
    binding = ModelBinding(
        name="offline-demo",
        provider="openai",
        provider_model_id="offline-demo",
        base_url=demo_llm.base_url,
        api_key_ref=DEMO_KEY_ENV,
    )

    async def resolve(name: str | None) -> ModelBinding:
        if name not in (None, "offline-demo"):
            raise RpcError(ErrorBody(code=ErrorCode.NOT_FOUND, message=f"model {name!r} not found"))
        return binding

    return OpenAIModelCaller(resolve)


@pytest.fixture
def no_models() -> OpenAIModelCaller:
    """Model calls where no model can be resolved (any LLM use fails)."""

    async def resolve(name: str | None) -> ModelBinding:
        raise RpcError(ErrorBody(code=ErrorCode.UNAVAILABLE, message="no models service"))

    return OpenAIModelCaller(resolve)


def node_of(document: dict[str, Any]) -> Node:
    """A flowchart node from its JSON form."""
    return msgspec.convert(document, Node)  # type: ignore[arg-type]


def context_of(
    node_id: str,
    *,
    run_id: str = "run-1",
    execution_index: int = 0,
    upstream: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An input context shaped like the orchestrator's (one upstream output)."""
    latest = None if upstream is None else {"node_id": "up", "output": upstream}
    return {
        "run": {"id": run_id, "flowchart_id": "fc-1", "flowchart_version": 1, "input": {}},
        "node": {"id": node_id, "execution_index": execution_index, "node_run_id": "nr"},
        "upstream_nodes": [] if latest is None else [latest],
        "latest_upstream": latest,
        "dotted_upstream_nodes": {},
    }


@pytest.fixture(name="node_of")
def node_of_fixture() -> Any:
    """:func:`node_of` for tests."""
    return node_of


@pytest.fixture(name="context_of")
def context_of_fixture() -> Any:
    """:func:`context_of` for tests."""
    return context_of
