"""Steps of runs the orchestrator knows send their locks and claims ahead (sent_ahead.py),
against real Postgres: they commit what the usual path would have, and whenever the run or the
message is not as the service knew it (a redelivery, another replica's step, a step that
committed while this one waited for the row), the transaction is rolled back and the batch
runs the usual way, once."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from llmctl_contracts import MessageType, RunStatus
from llmctl_contracts.events import NodeExecuted
from llmctl_infra.test_flowcharts import chain, task
from llmctl_libs.store import Database
from llmctl_orchestrator.run_states import SNAPSHOT_EVERY
from llmctl_orchestrator.sent_ahead import SendAheadPolicy

if TYPE_CHECKING:  # the fixture's type; conftest is not importable under importlib mode
    from collections.abc import Callable

    from conftest import Orchestrator

_CHAIN = chain(task("a"), task("b"))


async def _run_a(orchestrator: Orchestrator) -> tuple[str, Any]:
    """A run of start -> a -> b -> end whose ``a`` is dispatched; its id and ``a``'s row."""
    run_id = await orchestrator.start(_CHAIN)
    await orchestrator.routed(run_id, "start", "start-a")
    return run_id, await orchestrator.node_run(run_id, "a")


async def _walk_chain(
    orchestrator: Orchestrator, run_id: str, tasks: list[str], worker: Orchestrator
) -> None:
    """Route ``orchestrator``'s chain run from start through ``tasks`` in turn, each task
    reported succeeded to ``worker`` (the same service, or a replica sharing the run)."""
    previous = "start"
    for node_id in tasks:
        await orchestrator.routed(run_id, previous, f"{previous}-{node_id}")
        node_run = await orchestrator.node_run(run_id, node_id)
        await worker.executed(run_id, node_run.id, node_id, 1, output={"n": node_id})
        previous = node_id


def _counts(orchestrator: Orchestrator) -> tuple[int, int]:
    sent = orchestrator.coordinator.send_ahead
    return sent.committed, sent.rolled_back


async def test_a_known_run_is_stepped_with_its_claims_sent_ahead(
    orchestrator: Orchestrator,
) -> None:
    run_id, a = await _run_a(orchestrator)
    await orchestrator.executed(run_id, a.id, "a", 1, output={"n": "a"})  # reads a's row first
    await orchestrator.routed(run_id, "a", "a-b")
    b = await orchestrator.node_run(run_id, "b")
    await orchestrator.executed(run_id, b.id, "b", 1, output={"n": "b"})
    await orchestrator.routed(run_id, "b", "b-end")
    await orchestrator.routed(run_id, "end", end=True)  # ends the run: its row's status changes
    # every step after the start knew the run from the step before it
    assert _counts(orchestrator) == (6, 0)
    record = await orchestrator.record(run_id)
    assert record.status == RunStatus.SUCCEEDED
    assert record.node_executions == 4
    assert await orchestrator.launched(run_id) == [("a", 1), ("b", 1)]
    assert [r.node.id for r in await orchestrator.routings(run_id)] == ["start", "a", "b", "end"]
    await orchestrator.assert_rebuilds(run_id)


async def test_a_run_past_its_state_snapshots_is_still_known_at_every_step(
    orchestrator: Orchestrator,
) -> None:
    """The sequences a step leaves the row with (a snapshot rewritten every SNAPSHOT_EVERY
    events) are what the service keeps: no step of a long run is rolled back."""
    tasks = [f"t{i}" for i in range(40)]
    run_id = await orchestrator.start(chain(*(task(t) for t in tasks)))
    await _walk_chain(orchestrator, run_id, tasks, orchestrator)
    assert len(await orchestrator.events(run_id)) > 2 * SNAPSHOT_EVERY
    assert _counts(orchestrator) == (80, 0)
    await orchestrator.assert_rebuilds(run_id)


async def test_a_redelivered_report_is_rolled_back_and_then_skipped(
    orchestrator: Orchestrator,
) -> None:
    run_id, a = await _run_a(orchestrator)
    report = orchestrator.report(
        MessageType.NODE_EXECUTED,
        NodeExecuted(node_run_id=a.id, node_id="a", attempt=1, succeeded=True, output={"n": 1}),
        run_id,
        a.id,
    )
    await orchestrator.coordinator.on_executed(report)
    events = await orchestrator.events(run_id)
    assert _counts(orchestrator) == (2, 0)
    await orchestrator.coordinator.on_executed(report)  # the same message again
    assert _counts(orchestrator) == (2, 1)
    assert await orchestrator.events(run_id) == events  # nothing written twice
    assert len(await orchestrator.routings(run_id)) == 2  # start's and a's, once each
    # the usual path took the run's state from the rows: the next step knows it again
    await orchestrator.routed(run_id, "a", "a-b")
    assert _counts(orchestrator) == (2, 1)
    await orchestrator.executed(run_id, (await orchestrator.node_run(run_id, "b")).id, "b", 1)
    assert _counts(orchestrator) == (3, 1)
    await orchestrator.assert_rebuilds(run_id)


async def test_a_run_another_replica_stepped_is_stepped_from_its_rows(
    orchestrator: Orchestrator, make_orchestrator: Callable[..., Orchestrator]
) -> None:
    run_id, a = await _run_a(orchestrator)
    replica = make_orchestrator()
    await replica.executed(run_id, a.id, "a", 1, output={"n": "a"})  # the replica's first step
    assert _counts(replica) == (0, 0)  # it did not know the run
    await orchestrator.routed(run_id, "a", "a-b")  # what this one knew is two events old
    assert _counts(orchestrator) == (1, 1)
    b = await orchestrator.node_run(run_id, "b")
    assert (b.status, b.attempt) == ("dispatched", 1)
    assert await orchestrator.launched(run_id) == [("a", 1), ("b", 1)]
    await orchestrator.assert_rebuilds(run_id)


async def test_a_step_that_commits_while_a_sent_ahead_step_waits_for_the_row_wins(
    orchestrator: Orchestrator, make_orchestrator: Callable[..., Orchestrator]
) -> None:
    """The row is checked as locked: a step that changed it while the sent-ahead step waited
    for its lock makes that step roll back and run again from the rows."""
    run_id, a = await _run_a(orchestrator)
    replica = make_orchestrator()
    async with replica.db.transaction() as conn:
        loaded = await replica.coordinator.lock_run(conn, run_id)
        assert loaded is not None
        writer = loaded[0]
        writer.record_control("pause", RunStatus.PAUSING.value, "pause-while-locked")
        pending = await writer.flush()
        step = asyncio.create_task(orchestrator.executed(run_id, a.id, "a", 1, output={"n": "a"}))
        await _until_a_backend_waits_for_a_lock(orchestrator.db)
    await replica.coordinator.after_commit(writer, pending)
    await step
    assert _counts(orchestrator) == (1, 1)  # the route of start, then this step rolled back
    record = await orchestrator.record(run_id)
    assert record.status == RunStatus.PAUSING  # the pause stands: a's route awaits the router
    assert (await orchestrator.node_run(run_id, "a")).status == "succeeded"
    await orchestrator.assert_rebuilds(run_id)


async def _until_a_backend_waits_for_a_lock(db: Database) -> None:
    """Return once some backend of this database waits for a lock (polling pg_stat_activity)."""
    async with asyncio.timeout(30):
        while True:
            async with db.autocommit() as conn:
                waiting = (
                    await conn.execute(
                        sa.text(
                            "SELECT count(*) FROM pg_stat_activity "
                            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                        )
                    )
                ).scalar_one()
            if waiting:
                return
            await asyncio.sleep(0.01)


async def test_replicas_that_share_a_run_soon_stop_sending_its_steps_ahead(
    orchestrator: Orchestrator, make_orchestrator: Callable[..., Orchestrator]
) -> None:
    """Two replicas take turns with a run's messages: each finds the run moved on at every
    step it sends ahead, and after more than four such rollbacks it stops trying."""
    tasks = [f"t{i}" for i in range(10)]
    run_id = await orchestrator.start(chain(*(task(t) for t in tasks)))
    replica = make_orchestrator()
    await _walk_chain(orchestrator, run_id, tasks, replica)
    await orchestrator.routed(run_id, tasks[-1], f"{tasks[-1]}-end")
    await orchestrator.routed(run_id, "end", end=True)
    assert (await orchestrator.record(run_id)).status == RunStatus.SUCCEEDED
    assert _counts(orchestrator) == (1, 5)  # start's route knew the run; then 5 and a rest
    assert _counts(replica) == (0, 5)  # its first report did not know the run
    await orchestrator.assert_rebuilds(run_id)


def test_the_policy_rests_after_too_many_rollbacks_in_a_window_and_then_tries_again() -> None:
    policy = SendAheadPolicy(window=8, max_rolled_back=2, rest=3)
    for outcome in (False, True, False, True, True, True, True, True):  # 2 of 8: tolerated
        assert policy.try_now()
        policy.record(committed=outcome)
    for _ in range(2):  # a new window: the earlier rollbacks no longer count
        assert policy.try_now()
        policy.record(committed=False)
    assert policy.try_now()
    policy.record(committed=False)  # the third in this window: rest
    assert [policy.try_now() for _ in range(4)] == [False, False, False, True]
    assert (policy.committed, policy.rolled_back) == (6, 5)
