"""The Postgres adapter passes the event store conformance suite; appends to several streams
in one statement."""

from __future__ import annotations

import pytest

from llmctl_libs.store import (
    ConcurrencyError,
    Database,
    EventStore,
    NewEvent,
    PostgresEventStore,
    StoreTables,
)
from llmctl_libs.testing import EventStoreConformance


class TestPostgresEventStore(EventStoreConformance):
    @pytest.fixture(autouse=True)
    def _bind(self, store_db: tuple[Database, StoreTables]) -> None:
        self._db, self._tables = store_db

    def make(self) -> tuple[Database, EventStore]:
        return self._db, PostgresEventStore(self._tables)


def _event(n: int) -> NewEvent:
    return NewEvent(f"multi-{n}", "t.happened", 1, b'{"n":%d}' % n, f"multi-key-{n}")


async def _versions(
    db: Database, store: PostgresEventStore, stream_id: str
) -> list[tuple[int, str]]:
    async with db.transaction() as conn:
        return [(e.version, e.event_id) for e in await store.read(conn, stream_id)]


async def test_append_streams_appends_to_several_streams_in_one_call(
    store_db: tuple[Database, StoreTables],
) -> None:
    db, tables = store_db
    store = PostgresEventStore(tables)
    async with db.transaction() as conn:
        await store.append(conn, "multi-b", 0, [_event(1), _event(2)])
    async with db.transaction() as conn:
        await store.append_streams(
            conn,
            [
                ("multi-a", 0, [_event(3), _event(4)]),
                ("multi-b", 2, [_event(5)]),
                ("multi-empty", 0, []),
                ("multi-c", 0, [_event(6)]),
            ],
        )
    assert await _versions(db, store, "multi-a") == [(1, "multi-3"), (2, "multi-4")]
    assert await _versions(db, store, "multi-b") == [
        (1, "multi-1"),
        (2, "multi-2"),
        (3, "multi-5"),
    ]
    assert await _versions(db, store, "multi-c") == [(1, "multi-6")]
    assert await _versions(db, store, "multi-empty") == []
    async with db.transaction() as conn:
        assert await store.current_version(conn, "multi-a") == 2
        assert await store.current_version(conn, "multi-b") == 3


async def test_append_streams_with_a_stale_stream_stores_nothing_of_the_call(
    store_db: tuple[Database, StoreTables],
) -> None:
    db, tables = store_db
    store = PostgresEventStore(tables)
    async with db.transaction() as conn:
        await store.append(conn, "stale-b", 0, [_event(1)])
    with pytest.raises(ConcurrencyError):
        async with db.transaction() as conn:
            await store.append_streams(
                conn,
                [
                    ("stale-a", 0, [_event(2), _event(3)]),
                    ("stale-b", 0, [_event(4)]),  # version 1 is taken
                    ("stale-c", 0, [_event(5)]),
                ],
            )
    assert await _versions(db, store, "stale-a") == []
    assert await _versions(db, store, "stale-b") == [(1, "multi-1")]
    assert await _versions(db, store, "stale-c") == []
    async with db.transaction() as conn:  # the same appends at the right versions succeed
        await store.append_streams(
            conn,
            [
                ("stale-a", 0, [_event(2), _event(3)]),
                ("stale-b", 1, [_event(4)]),
                ("stale-c", 0, [_event(5)]),
            ],
        )
    assert await _versions(db, store, "stale-b") == [(1, "multi-1"), (2, "multi-4")]
    assert [v for v, _ in await _versions(db, store, "stale-a")] == [1, 2]
