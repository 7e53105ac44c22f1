"""Postgres persistence plumbing: event store, transactional outbox, inbox, migrations."""

from .base import ConcurrencyError, EventStore, NewEvent, StoredEvent
from .database import Database
from .inbox import Inbox
from .once import OnceRecord, OnceRecorder
from .outbox import Outbox, OutboxMessage, OutboxRelay, PendingMessage
from .postgres import PostgresEventStore
from .retention import RetentionRule, RetentionSweeper
from .tables import StoreTables, store_tables

__all__ = [
    "ConcurrencyError",
    "Database",
    "EventStore",
    "Inbox",
    "NewEvent",
    "OnceRecord",
    "OnceRecorder",
    "Outbox",
    "OutboxMessage",
    "OutboxRelay",
    "PendingMessage",
    "PostgresEventStore",
    "RetentionRule",
    "RetentionSweeper",
    "StoreTables",
    "StoredEvent",
    "store_tables",
]
