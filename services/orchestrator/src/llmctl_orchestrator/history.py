"""A run's stored timeline, decoded for replay."""

from __future__ import annotations

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from llmctl_contracts import decode_envelope, payload_type
from llmctl_libs.store import PostgresEventStore

from .engine import RunEvent

__all__ = ["decode_run_event", "run_events"]


def decode_run_event(sequence: int, envelope: bytes) -> RunEvent:
    """Decode one stored run event (an envelope) into a RunEvent with its typed payload."""
    env = decode_envelope(envelope)
    struct = payload_type(env.type, env.version)
    payload = None if struct is None else msgspec.json.decode(env.payload, type=struct)
    return RunEvent(sequence=sequence, type=env.type, payload=payload)


async def run_events(
    store: PostgresEventStore, conn: AsyncConnection, run_id: str
) -> list[RunEvent]:
    """Every event of the run, in sequence order."""
    events: list[RunEvent] = []
    while True:
        batch = await store.read(conn, run_id, after_version=len(events), limit=10_000)
        events.extend(decode_run_event(e.version, e.envelope) for e in batch)
        if len(batch) < 10_000:
            return events
