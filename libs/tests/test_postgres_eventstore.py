"""The Postgres adapter passes the event store conformance suite."""

from __future__ import annotations

import pytest

from llmctl_libs.store import Database, EventStore, PostgresEventStore, StoreTables
from llmctl_libs.testing import EventStoreConformance


class TestPostgresEventStore(EventStoreConformance):
    @pytest.fixture(autouse=True)
    def _bind(self, store_db: tuple[Database, StoreTables]) -> None:
        self._db, self._tables = store_db

    def make(self) -> tuple[Database, EventStore]:
        return self._db, PostgresEventStore(self._tables)
