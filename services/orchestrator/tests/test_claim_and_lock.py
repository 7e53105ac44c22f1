"""A step group's inbox claims and run-row lock in one statement, against real Postgres."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from llmctl_libs.messages import Trace, make_envelope
from llmctl_libs.store import Database
from llmctl_orchestrator.coordinator import RunCoordinator
from llmctl_orchestrator.step_groups import QueuedStep
from llmctl_orchestrator.tables import SCHEMA, metadata, runs, store


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    async with database.transaction() as conn:
        await conn.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
        await conn.run_sync(metadata.create_all)
        await conn.execute(
            sa.insert(runs).values(
                id="run-1",
                flowchart_id="f",
                flowchart_version=1,
                status="running",
                input={},
                state=b"",
                correlation_id="c",
            )
        )
    try:
        yield database
    finally:
        await database.dispose()


async def _body(*_args: Any) -> None:
    return None


def _step(key: str, scope: str = "orchestrator.route") -> QueuedStep:
    envelope = make_envelope(
        "node.routing_decided",
        {"k": key},
        trace=Trace(correlation_id="c"),
        idempotency_key=key,
        run_id="run-1",
    )
    return QueuedStep(envelope, scope, _body)


def _keys(steps: list[QueuedStep]) -> list[tuple[str, str]]:
    return [(s.inbox_scope, s.envelope.idempotency_key) for s in steps]


async def test_new_messages_are_claimed_once_and_the_run_is_returned(db: Database) -> None:
    first, duplicate, other = _step("a"), _step("a"), _step("b")
    same_key_other_scope = _step("a", scope="orchestrator.exec")
    async with db.transaction() as conn:
        claimed, row = await RunCoordinator._claim_and_lock(
            conn, "run-1", [first, duplicate, other, same_key_other_scope]
        )
    assert claimed == [first, other, same_key_other_scope]  # the duplicate counts once
    assert row is not None
    assert (row.id, row.status, row.correlation_id) == ("run-1", "running", "c")
    async with db.transaction() as conn:
        claimed, row = await RunCoordinator._claim_and_lock(conn, "run-1", [_step("a"), _step("c")])
    assert _keys(claimed) == [("orchestrator.route", "c")]  # "a" was processed before
    assert row is not None


async def test_a_rolled_back_step_leaves_its_messages_unclaimed(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction() as conn:
            claimed, _ = await RunCoordinator._claim_and_lock(conn, "run-1", [_step("r")])
            assert _keys(claimed) == [("orchestrator.route", "r")]
            raise RuntimeError("effects failed")
    async with db.transaction() as conn:
        claimed, _ = await RunCoordinator._claim_and_lock(conn, "run-1", [_step("r")])
    assert _keys(claimed) == [("orchestrator.route", "r")]


async def test_the_run_row_stays_locked_until_the_step_commits(db: Database) -> None:
    async with db.transaction() as conn:
        await RunCoordinator._claim_and_lock(conn, "run-1", [_step("l")])
        async with db.engine.connect() as other:
            with pytest.raises(OperationalError, match="could not obtain lock"):
                await other.execute(
                    sa.select(runs.c.id).where(runs.c.id == "run-1").with_for_update(nowait=True)
                )
            await other.rollback()
    async with db.engine.connect() as other:
        locked = await other.execute(
            sa.select(runs.c.id).where(runs.c.id == "run-1").with_for_update(nowait=True)
        )
        assert locked.scalar_one() == "run-1"
        await other.rollback()


async def test_messages_of_a_missing_run_are_claimed_and_nothing_is_locked(
    db: Database,
) -> None:
    async with db.transaction() as conn:
        claimed, row = await RunCoordinator._claim_and_lock(conn, "no-such-run", [_step("m")])
    assert row is None
    assert _keys(claimed) == [("orchestrator.route", "m")]
    async with db.transaction() as conn:
        stored = await conn.scalar(
            sa.select(sa.func.count())
            .select_from(store.inbox)
            .where(store.inbox.c.message_id == "m")
        )
    assert stored == 1
