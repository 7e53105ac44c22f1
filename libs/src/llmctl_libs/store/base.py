"""The event store port."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["ConcurrencyError", "EventStore", "NewEvent", "StoredEvent"]


class ConcurrencyError(Exception):
    """Another writer appended to the stream at the expected version first."""


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append.

    Attributes:
        event_id: UUIDv7 of the event.
        type: Message type, e.g. ``node.succeeded``.
        type_version: Version of the payload schema.
        envelope: The full encoded envelope (JSON bytes) exactly as it will be published.
        idempotency_key: Unique across the store; a repeated key is rejected.
    """

    event_id: str
    type: str
    type_version: int
    envelope: bytes
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as recorded, with its position in its stream."""

    stream_id: str
    version: int
    event_id: str
    type: str
    type_version: int
    envelope: bytes
    recorded_at: datetime
    superseded: bool


class EventStore(ABC):
    """Append-only streams with optimistic concurrency on ``(stream_id, version)``."""

    @abstractmethod
    async def append(
        self,
        conn: AsyncConnection,
        stream_id: str,
        expected_version: int,
        events: list[NewEvent],
    ) -> int:
        """Append ``events`` after ``expected_version`` inside the caller's transaction.

        Returns:
            The stream's new version.

        Raises:
            ConcurrencyError: the stream is not at ``expected_version`` (or an idempotency
                key was already recorded).
        """

    async def append_streams(
        self, conn: AsyncConnection, appends: list[tuple[str, int, list[NewEvent]]]
    ) -> None:
        """Append to several streams in the caller's transaction: each ``(stream_id,
        expected_version, events)`` as :meth:`append` would (an adapter may do it in one
        statement).

        Raises:
            ConcurrencyError: a stream is not at its expected version (or an idempotency key
                was already recorded); nothing is appended.
        """
        for stream_id, expected_version, events in appends:
            await self.append(conn, stream_id, expected_version, events)

    @abstractmethod
    async def read(
        self,
        conn: AsyncConnection,
        stream_id: str,
        *,
        after_version: int = 0,
        limit: int | None = None,
    ) -> list[StoredEvent]:
        """Events of one stream with ``version > after_version``, in order."""

    @abstractmethod
    async def current_version(self, conn: AsyncConnection, stream_id: str) -> int:
        """The stream's latest version (0 for an empty stream)."""

    @abstractmethod
    async def mark_superseded(
        self, conn: AsyncConnection, stream_id: str, from_version: int, to_version: int
    ) -> int:
        """Flag events ``from_version..to_version`` of a stream superseded (a later event
        replaced their effect). Events stay as recorded; only the flag changes.

        Returns:
            How many events were flagged.
        """
