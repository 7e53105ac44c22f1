"""Run state snapshots against real Postgres: a step rewrites the saved state only when a
snapshot is due, and a step that does not hold the state in memory rebuilds it from the
snapshot and the events after it, to the same state as a replay of every event."""

from __future__ import annotations

from itertools import pairwise
from typing import TYPE_CHECKING, Any

import msgspec
import pytest
import sqlalchemy as sa

from llmctl_contracts import MessageType
from llmctl_contracts.events import RunRewound
from llmctl_libs.messages import Trace
from llmctl_libs.store import Database, Outbox, PostgresEventStore
from llmctl_orchestrator.engine import (
    FlowchartGraph,
    RunEvent,
    RunState,
    effective_history,
    events_before,
    replay,
    rewound_state,
)
from llmctl_orchestrator.run_states import (
    SNAPSHOT_EVERY,
    KnownRun,
    RunFacts,
    RunStates,
    load_state,
)
from llmctl_orchestrator.tables import runs, store
from llmctl_orchestrator.writer import RunWriter

if TYPE_CHECKING:
    from conftest import EngineDriver

    Driver = type[EngineDriver]
else:
    Driver = Any

RUN = "run-1"
CHAIN = 50
"""Task nodes in the test chain: 3 events each, so a run of it passes SNAPSHOT_EVERY."""


def _chain_events(driver: Driver, graph_of: Any) -> tuple[FlowchartGraph, list[RunEvent]]:
    """The events of a run of start -> n0 -> ... -> n{CHAIN-1}, as the coordinator emits
    them (queued, succeeded, routed per node)."""
    nodes = [{"type": "start", "id": "s"}]
    nodes += [{"type": "task", "id": f"n{i}", "prompt": "p"} for i in range(CHAIN)]
    ids = ["s", *(f"n{i}" for i in range(CHAIN))]
    edges = [(f"c{i}", a, b) for i, (a, b) in enumerate(pairwise(ids))]
    d = driver(graph_of(nodes, edges))
    node_run = d.start()
    for i in range(CHAIN + 1):
        d.succeed(node_run, {"step": i})
        made = d.route(node_run, [f"c{i}"] if i < CHAIN else [])
        if made:
            node_run = f"{made[0].node_id}#{made[0].execution_index}"
    return d.graph, d.events


@pytest.fixture
async def db(orchestrator_db: Database) -> Database:
    async with orchestrator_db.transaction() as conn:
        await conn.execute(
            sa.insert(runs).values(
                id=RUN,
                flowchart_id="f",
                flowchart_version=1,
                status="running",
                input={},
                state=msgspec.msgpack.encode(RunState()),
                correlation_id="c",
            )
        )
    return orchestrator_db


async def _row(db: Database) -> Any:
    async with db.autocommit() as conn:
        return (
            await conn.execute(
                sa.select(runs.c.state, runs.c.state_sequence, runs.c.last_sequence).where(
                    runs.c.id == RUN
                )
            )
        ).one()


async def _step(
    db: Database, graph: FlowchartGraph, events: list[RunEvent], *, replace: bool = False
) -> RunState:
    """One step as the coordinator takes it: lock the row, rebuild the state from the
    database, emit ``events``, flush, commit."""
    event_store = PostgresEventStore(store)
    async with db.transaction() as conn:
        row = (
            await conn.execute(
                sa.select(runs.c.state_sequence, runs.c.last_sequence)
                .where(runs.c.id == RUN)
                .with_for_update()
            )
        ).one()
        state = await load_state(conn, event_store, graph, RUN, row.last_sequence)
        writer = RunWriter(
            conn,
            graph=graph,
            run_id=RUN,
            last_sequence=row.last_sequence,
            state_sequence=row.state_sequence,
            current_status="running",
            state=state,
            trace=Trace(correlation_id="c"),
            event_store=event_store,
            outbox=Outbox(store),
        )
        if replace:
            writer.replace_state(state)
        for event in events:
            writer.emit(event.type, event.payload)
        await writer.flush()
    return writer.state


def _decoded(blob: bytes) -> RunState:
    return msgspec.msgpack.decode(blob, type=RunState)


def test_a_kept_state_is_handed_out_once_and_only_at_its_sequence() -> None:
    states = RunStates()
    state = RunState(node_executions=3)
    states.keep(RUN, KnownRun(state, 9, 0, "running"))
    assert states.take(RUN, 8) is None  # another step committed since: not this state
    assert states.take(RUN, 9) is None  # the mismatch dropped it
    states.keep(RUN, KnownRun(state, 9, 0, "running"))
    assert states.take(RUN, 9) is state
    assert states.take(RUN, 9) is None  # taken: a failed step cannot hand back its changes
    states.keep(RUN, KnownRun(state, 10, 0, "running"))
    states.forget(RUN)
    assert len(states) == 0


def test_a_batch_of_runs_is_taken_whole_or_not_at_all() -> None:
    facts = RunFacts("fc", 1, {})
    states = RunStates()
    states.keep("a", KnownRun(RunState(), 4, 0, "running", facts))
    states.keep("b", KnownRun(RunState(), 7, 0, "running"))  # kept without the run's facts
    assert states.take_all(["a", "b"]) is None
    assert states.take_all(["a", "c"]) is None  # c is not known
    assert len(states) == 2  # a refused batch takes nothing
    taken = states.take_all(["a"])
    assert taken is not None
    assert taken["a"].last_sequence == 4
    assert states.take_all(["a"]) is None  # taken: a failed step cannot hand back its changes
    assert states.take("b", 7) is not None


def test_the_least_recently_stepped_runs_are_dropped_first() -> None:
    states = RunStates(max_runs=2)
    for run_id in ("a", "b"):
        states.keep(run_id, KnownRun(RunState(), 1, 0, "running"))
    states.keep("a", KnownRun(RunState(), 2, 0, "running"))  # a stepped again: b is the oldest
    states.keep("c", KnownRun(RunState(), 1, 0, "running"))
    assert len(states) == 2
    assert states.take("b", 1) is None
    assert states.take("a", 2) is not None
    assert states.take("c", 1) is not None


async def test_the_snapshot_is_rewritten_only_when_due_and_the_state_always_rebuilds(
    db: Database, driver: Driver, graph_of: Any
) -> None:
    graph, events = _chain_events(driver, graph_of)
    assert len(events) > 2 * SNAPSHOT_EVERY
    snapshots = 0
    written = 0
    for start in range(0, len(events), 3):  # one node per step: queued, succeeded, routed
        before = await _row(db)
        live = await _step(db, graph, events[start : start + 3])
        written = min(start + 3, len(events))
        after = await _row(db)
        assert after.last_sequence == written
        if written - before.state_sequence >= SNAPSHOT_EVERY:
            snapshots += 1
            assert after.state_sequence == written
            assert _decoded(after.state) == live
        else:  # left alone: the previous snapshot, byte for byte
            assert (after.state_sequence, after.state) == (before.state_sequence, before.state)
        # the saved snapshot is the fold of the events up to its sequence
        assert _decoded(after.state) == replay(graph, events[: after.state_sequence])
        # and the state a step rebuilds from the database is the fold of every event
        assert live == replay(graph, events[:written])
    assert snapshots == written // SNAPSHOT_EVERY
    row = await _row(db)
    assert row.state_sequence < row.last_sequence  # the tail is not empty at the end


async def test_a_replaced_state_is_saved_at_once(
    db: Database, driver: Driver, graph_of: Any
) -> None:
    graph, events = _chain_events(driver, graph_of)
    await _step(db, graph, events[:3])
    assert (await _row(db)).state_sequence == 0
    live = await _step(db, graph, events[3:6], replace=True)
    row = await _row(db)
    assert (row.state_sequence, row.last_sequence) == (6, 6)
    assert _decoded(row.state) == live


async def test_a_rewind_after_an_older_snapshot_replays_the_whole_history(
    db: Database, driver: Driver, graph_of: Any
) -> None:
    """A rewind writes a snapshot, so a tail never holds one; if it does (a row saved before
    snapshots, say), the state comes from the whole history."""
    graph, events = _chain_events(driver, graph_of)
    history = events[:12]
    queued = next(
        e for e in history if e.type == MessageType.NODE_QUEUED and e.payload.node_id == "n2"
    )
    rewound = rewound_state(graph, events_before(history, queued.sequence), replay(graph, history))
    rewind = RunEvent(
        13,
        MessageType.RUN_REWOUND,
        RunRewound(
            node_run_id=queued.payload.node_run_id,
            node_id="n2",
            from_sequence=queued.sequence,
            to_sequence=12,
            request_id="r1",
        ),
    )
    await _step(db, graph, [*history, rewind])
    assert (await _row(db)).state_sequence == 0  # no snapshot: the tail holds the rewind
    event_store = PostgresEventStore(store)
    async with db.transaction() as conn:
        state = await load_state(conn, event_store, graph, RUN, 13)
    assert state == replay(graph, [*history, rewind]) == rewound
    assert effective_history([*history, rewind])[-2].sequence == queued.sequence - 1
