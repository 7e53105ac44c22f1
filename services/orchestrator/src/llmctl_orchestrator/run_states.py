"""Run state between steps: kept in memory, saved to the run row as a snapshot every few events.

A run's state (``RunState``, the fold of its events) holds an entry per node the run has
executed. Saved with every step, its cost grew with the run: past 2 KB Postgres stores it out
of line (TOAST), and rewriting 17 KB cost a commit about 0.75 ms more, 57 KB about 2 ms.
So the run row keeps a *snapshot*: ``runs.state`` is the state as of event
``runs.state_sequence``. A step rewrites it only when the run has gained
:data:`SNAPSHOT_EVERY` events since, when it changes the run's status or outcome, and when it
replaces the state (a rewind). Between snapshots the run's events, committed with each step,
are the durable record.

A step takes the state from :class:`RunStates`, where the service keeps each run's state as
its last committed step left it, when that entry is at the locked row's ``last_sequence``.
Otherwise (another replica took the run's last step, the service restarted, or the last
transaction failed) it reads the snapshot and folds the events after it (:func:`load_state`).
Both give the fold of the run's events up to ``last_sequence``: the events up to a sequence
never change, and an entry is only kept once its transaction has committed.

An entry also holds what the run row said after that step (:class:`KnownRun`): its status,
sequences and the facts no step changes. With them, a step may start before it has locked the
row (see ``RunCoordinator._transaction_on_known_runs``): its transaction checks, as it locks
the row, that the row still says all this, and is rolled back if not.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import msgspec
from psycopg.rows import namedtuple_row
from sqlalchemy.ext.asyncio import AsyncConnection

from llmctl_contracts import MessageType
from llmctl_libs.store import PostgresEventStore
from llmctl_libs.store.driver import driver_connection

from .engine import FlowchartGraph, RunState, evolve, replay
from .history import decode_run_event, run_events
from .tables import runs

__all__ = ["MAX_KEPT_RUNS", "SNAPSHOT_EVERY", "KnownRun", "RunFacts", "RunStates", "load_state"]

SNAPSHOT_EVERY = 64
"""Events a run may gain before a step rewrites its state snapshot (a step that does not find
the state in memory folds at most this many events, plus its own last step's, onto it)."""
MAX_KEPT_RUNS = 4096
"""Runs whose state a service keeps in memory (the least recently stepped are dropped first)."""

_SNAPSHOT = f"SELECT state, state_sequence FROM {runs.schema}.runs WHERE id = %(id)s"


@dataclass(frozen=True, slots=True)
class RunFacts:
    """What a run's row says that no step changes: its pinned flowchart and its input."""

    flowchart_id: str
    flowchart_version: int
    input: dict[str, Any]

    def meta(self, run_id: str) -> dict[str, Any]:
        """The run metadata a step's node contexts carry (a fresh dict each time)."""
        return {
            "id": run_id,
            "flowchart_id": self.flowchart_id,
            "flowchart_version": self.flowchart_version,
            "input": dict(self.input),
        }


@dataclass(frozen=True, slots=True)
class KnownRun:
    """A run as a committed step left it: the run row's status and sequences, and the state
    (the fold of its events up to ``last_sequence``)."""

    state: RunState
    last_sequence: int
    state_sequence: int
    status: str
    facts: RunFacts | None = None
    """``None`` when the step that kept it did not know them (the run is then only ever taken
    by a step that locked its row first)."""


class RunStates:
    """Each run as its last committed step left it (:class:`KnownRun`), by run id.

    A step *takes* the entry (it mutates the state as it emits events) and the coordinator
    *keeps* the new one once the step's transaction has committed, so an entry never holds
    a state that a rolled-back transaction changed.
    """

    def __init__(self, max_runs: int = MAX_KEPT_RUNS) -> None:
        self._max_runs = max_runs
        self._states: OrderedDict[str, KnownRun] = OrderedDict()

    def __len__(self) -> int:
        return len(self._states)

    def take(self, run_id: str, sequence: int) -> RunState | None:
        """Remove and return the run's state if it is the state at ``sequence``."""
        entry = self._states.pop(run_id, None)
        if entry is None or entry.last_sequence != sequence:
            return None
        return entry.state

    def take_all(self, run_ids: Iterable[str]) -> dict[str, KnownRun] | None:
        """Remove and return the entries of all ``run_ids`` if every one has an entry with the
        run's facts; otherwise ``None``, and nothing is removed. (The caller checks, as it
        locks the rows, that they still say what the entries say.)"""
        ids = list(run_ids)
        if not all((e := self._states.get(i)) is not None and e.facts is not None for i in ids):
            return None
        return {i: self._states.pop(i) for i in ids}

    def keep(self, run_id: str, known: KnownRun) -> None:
        """Remember the run as a committed step left it."""
        self._states[run_id] = known
        self._states.move_to_end(run_id)
        while len(self._states) > self._max_runs:
            self._states.popitem(last=False)

    def forget(self, run_id: str) -> None:
        """Drop the run's entry (the run has ended)."""
        self._states.pop(run_id, None)


async def load_state(
    conn: AsyncConnection,
    store: PostgresEventStore,
    graph: FlowchartGraph,
    run_id: str,
    last_sequence: int,
) -> RunState:
    """The run's state at ``last_sequence``, from its snapshot and the events after it (the
    caller holds the run row's lock)."""
    driver = await driver_connection(conn)
    async with driver.cursor(row_factory=namedtuple_row) as cursor:
        await cursor.execute(_SNAPSHOT, {"id": run_id})
        row: Any = await cursor.fetchone()
    if row is None:
        raise LookupError(f"run {run_id} has no row")
    state = msgspec.msgpack.decode(row.state, type=RunState)
    if row.state_sequence >= last_sequence:
        return state
    tail = [
        decode_run_event(e.version, e.envelope)
        for e in await store.read(conn, run_id, after_version=row.state_sequence)
    ]
    if any(e.type == MessageType.RUN_REWOUND for e in tail):
        # a rewind writes a snapshot, so this needs an older row; the whole history is safe
        return replay(graph, await run_events(store, conn, run_id))
    for event in tail:
        evolve(state, graph, event.type, event.payload)
    return state
