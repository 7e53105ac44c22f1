"""Fixtures: the models service running in-process on the real NATS and Postgres."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest

from llmctl_contracts import subjects
from llmctl_infra.testing import create_database, unique_database_name
from llmctl_libs.bus import Bus
from llmctl_libs.rpc import call
from llmctl_libs.service import ServiceContext
from llmctl_libs.testing.service import running_service
from llmctl_models.app import DEFINITION

T = TypeVar("T")

SECRET_ENV = "LLMCTL_MODELS_TEST_API_KEY"
"""An environment variable the test models reference (set for the whole session)."""
MISSING_ENV = "LLMCTL_MODELS_TEST_MISSING_KEY"
"""An environment variable that is never set."""


@dataclass
class ModelsClient:
    """Calls the running models service over the real bus."""

    bus: Bus
    service: ServiceContext
    database_url: str

    async def call(self, operation: str, request: Any, result_type: type[T]) -> T:
        return await call(self.bus, subjects.rpc("models", operation), request, result_type)


@pytest.fixture(scope="session", autouse=True)
def models_secret_env() -> Iterator[str]:
    """The referenced credential exists in this (the service's) environment."""
    os.environ[SECRET_ENV] = "test-key-value"
    os.environ.pop(MISSING_ENV, None)
    try:
        yield SECRET_ENV
    finally:
        os.environ.pop(SECRET_ENV, None)


async def serve_models(nats_url: str, database_url: str) -> AsyncIterator[ModelsClient]:
    async with running_service(DEFINITION, nats_url=nats_url, database_url=database_url) as ctx:
        bus = Bus(nats_url, service="models-test-client")
        await bus.start()
        try:
            yield ModelsClient(bus=bus, service=ctx, database_url=database_url)
        finally:
            await bus.stop()


@pytest.fixture(scope="module")
async def models(nats_url: str, postgres_admin_url: str) -> AsyncIterator[ModelsClient]:
    """One models service (own database) shared by a module's tests: use unique names."""
    database_url = create_database(postgres_admin_url, unique_database_name("models"))
    async for client in serve_models(nats_url, database_url):
        yield client


@pytest.fixture
async def fresh_models(nats_url: str, database_url: str) -> AsyncIterator[ModelsClient]:
    """A models service on a database of this test only."""
    async for client in serve_models(nats_url, database_url):
        yield client
