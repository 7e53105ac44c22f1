"""A step group's inbox claims and run-row lock in one statement, against real Postgres."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from llmctl_libs.messages import Trace, make_envelope
from llmctl_libs.store import Database
from llmctl_orchestrator.coordinator import RunCoordinator
from llmctl_orchestrator.step_groups import QueuedStep
from llmctl_orchestrator.tables import runs, store


@pytest.fixture
async def db(orchestrator_db: Database) -> Database:
    async with orchestrator_db.transaction() as conn:
        await conn.execute(
            sa.insert(runs),
            [
                {
                    "id": run_id,
                    "flowchart_id": "f",
                    "flowchart_version": 1,
                    "status": "running",
                    "input": {},
                    "state": b"",
                    "correlation_id": "c",
                }
                for run_id in ("run-1", "run-2")
            ],
        )
    return orchestrator_db


async def _body(*_args: Any) -> None:
    return None


def _step(key: str, scope: str = "orchestrator.route", run_id: str = "run-1") -> QueuedStep:
    envelope = make_envelope(
        "node.routing_decided",
        {"k": key},
        trace=Trace(correlation_id="c"),
        idempotency_key=key,
        run_id=run_id,
    )
    return QueuedStep(envelope, scope, _body)


def _keys(steps: list[QueuedStep]) -> list[tuple[str, str]]:
    return [(s.inbox_scope, s.envelope.idempotency_key) for s in steps]


async def test_new_messages_are_claimed_once_and_the_run_is_returned(db: Database) -> None:
    first, duplicate, other = _step("a"), _step("a"), _step("b")
    same_key_other_scope = _step("a", scope="orchestrator.exec")
    async with db.transaction() as conn:
        claimed, rows = await RunCoordinator._claim_and_lock(
            conn, {"run-1": [first, duplicate, other, same_key_other_scope]}
        )
    assert claimed == {"run-1": [first, other, same_key_other_scope]}  # the duplicate once
    row = rows["run-1"]
    assert (row.id, row.status, row.correlation_id) == ("run-1", "running", "c")
    async with db.transaction() as conn:
        claimed, rows = await RunCoordinator._claim_and_lock(
            conn, {"run-1": [_step("a"), _step("c")]}
        )
    assert _keys(claimed["run-1"]) == [("orchestrator.route", "c")]  # "a" was processed before
    assert set(rows) == {"run-1"}


async def test_a_batch_claims_and_locks_several_runs_at_once(db: Database) -> None:
    one, two, missing = _step("b1"), _step("b2", run_id="run-2"), _step("b3", run_id="gone")
    async with db.transaction() as conn:
        claimed, rows = await RunCoordinator._claim_and_lock(
            conn, {"run-2": [two], "gone": [missing], "run-1": [one]}
        )
        assert claimed == {"run-2": [two], "gone": [missing], "run-1": [one]}
        assert sorted(rows) == ["run-1", "run-2"]  # a missing run has no row
        async with db.engine.connect() as other:
            for run_id in ("run-1", "run-2"):
                with pytest.raises(OperationalError, match="could not obtain lock"):
                    await other.execute(
                        sa.select(runs.c.id).where(runs.c.id == run_id).with_for_update(nowait=True)
                    )
                await other.rollback()
    async with db.transaction() as conn:
        claimed, rows = await RunCoordinator._claim_and_lock(
            conn, {"run-1": [_step("b1"), _step("b4")], "run-2": [_step("b2", run_id="run-2")]}
        )
    assert {run: _keys(steps) for run, steps in claimed.items()} == {
        "run-1": [("orchestrator.route", "b4")]  # b1 and b2 were claimed by the first batch
    }
    assert sorted(rows) == ["run-1", "run-2"]


async def test_a_rolled_back_step_leaves_its_messages_unclaimed(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction() as conn:
            claimed, _ = await RunCoordinator._claim_and_lock(conn, {"run-1": [_step("r")]})
            assert _keys(claimed["run-1"]) == [("orchestrator.route", "r")]
            raise RuntimeError("effects failed")
    async with db.transaction() as conn:
        claimed, _ = await RunCoordinator._claim_and_lock(conn, {"run-1": [_step("r")]})
    assert _keys(claimed["run-1"]) == [("orchestrator.route", "r")]


async def test_the_run_row_stays_locked_until_the_step_commits(db: Database) -> None:
    async with db.transaction() as conn:
        await RunCoordinator._claim_and_lock(conn, {"run-1": [_step("l")]})
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
        claimed, rows = await RunCoordinator._claim_and_lock(conn, {"no-such-run": [_step("m")]})
    assert rows == {}
    assert _keys(claimed["no-such-run"]) == [("orchestrator.route", "m")]
    async with db.transaction() as conn:
        stored = await conn.scalar(
            sa.select(sa.func.count())
            .select_from(store.inbox)
            .where(store.inbox.c.message_id == "m")
        )
    assert stored == 1
