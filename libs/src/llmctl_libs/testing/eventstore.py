"""Conformance cases every :class:`EventStore` adapter must pass.

Subclass :class:`EventStoreConformance` in a pytest module and implement ``make``.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod

import pytest

from ..store import ConcurrencyError, Database, EventStore, NewEvent

__all__ = ["EventStoreConformance"]


def event(n: int, key: str | None = None) -> NewEvent:
    """A small event numbered ``n``."""
    return NewEvent(
        event_id=f"e-{n}-{key}",
        type="t.happened",
        type_version=1,
        envelope=b'{"n":%d}' % n,
        idempotency_key=key,
    )


class EventStoreConformance(ABC):
    """Behaviour of the port, independent of the adapter."""

    @abstractmethod
    def make(self) -> tuple[Database, EventStore]:
        """The adapter under test and the database it writes to."""

    async def test_append_then_read_in_order(self) -> None:
        db, store = self.make()
        async with db.transaction() as conn:
            assert await store.append(conn, "s1", 0, [event(1), event(2)]) == 2
            assert await store.append(conn, "s1", 2, [event(3)]) == 3
        async with db.transaction() as conn:
            read = await store.read(conn, "s1")
            assert [e.version for e in read] == [1, 2, 3]
            assert [e.envelope for e in read] == [b'{"n":1}', b'{"n":2}', b'{"n":3}']
            assert [e.version for e in await store.read(conn, "s1", after_version=1, limit=1)] == [
                2
            ]
            assert await store.current_version(conn, "s1") == 3
            assert await store.current_version(conn, "other") == 0

    async def test_superseded_events_are_flagged_not_changed(self) -> None:
        db, store = self.make()
        async with db.transaction() as conn:
            await store.append(conn, "s-sup", 0, [event(1), event(2), event(3), event(4)])
            assert await store.mark_superseded(conn, "s-sup", 2, 3) == 2
            assert await store.mark_superseded(conn, "s-other", 1, 9) == 0
        async with db.transaction() as conn:
            read = await store.read(conn, "s-sup")
        assert [e.superseded for e in read] == [False, True, True, False]
        assert [e.envelope for e in read] == [b'{"n":%d}' % n for n in (1, 2, 3, 4)]

    async def test_stale_expected_version_conflicts(self) -> None:
        db, store = self.make()
        async with db.transaction() as conn:
            await store.append(conn, "s2", 0, [event(1)])
        with pytest.raises(ConcurrencyError):
            async with db.transaction() as conn:
                await store.append(conn, "s2", 0, [event(2)])
        async with db.transaction() as conn:
            assert [e.version for e in await store.read(conn, "s2")] == [1]

    async def test_concurrent_writers_one_wins(self) -> None:
        db, store = self.make()

        async def writer(n: int) -> bool:
            try:
                async with db.transaction() as conn:
                    await store.append(conn, "s3", 0, [event(n)])
                return True
            except ConcurrencyError:
                return False

        results = await asyncio.gather(*(writer(n) for n in range(5)))
        assert results.count(True) == 1
        async with db.transaction() as conn:
            assert len(await store.read(conn, "s3")) == 1

    async def test_repeated_idempotency_key_is_rejected(self) -> None:
        db, store = self.make()
        async with db.transaction() as conn:
            await store.append(conn, "s4", 0, [event(1, key="k")])
        with pytest.raises(ConcurrencyError):
            async with db.transaction() as conn:
                await store.append(conn, "s5", 0, [event(2, key="k")])

    async def test_rolled_back_append_leaves_nothing(self) -> None:
        db, store = self.make()
        with pytest.raises(RuntimeError):
            async with db.transaction() as conn:
                await store.append(conn, "s6", 0, [event(1)])
                raise RuntimeError("crash before commit")
        async with db.transaction() as conn:
            assert await store.read(conn, "s6") == []
