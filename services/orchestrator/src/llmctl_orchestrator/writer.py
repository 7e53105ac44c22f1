"""RunWriter: collects one transaction's run events, commands and state, then writes them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from llmctl_contracts import ErrorBody, ErrorCode, MessageKind, MessageType, encode, subjects
from llmctl_contracts.events import RunControlled
from llmctl_libs.messages import Trace, make_envelope
from llmctl_libs.rpc import RpcError
from llmctl_libs.store import NewEvent, Outbox, PendingMessage, PostgresEventStore
from llmctl_libs.store.database import COMMIT
from llmctl_libs.store.driver import driver_connection
from llmctl_libs.store.outbox import OutboxInsert, OutboxMessage

from .artifacts import ArtifactPatches
from .engine import FlowchartGraph, RunState, evolve
from .node_run_writes import NodeRunWrites, flush_node_run_writes
from .run_states import SNAPSHOT_EVERY, KnownRun, RunFacts
from .tables import runs

__all__ = ["CommandTooLarge", "RunWriter", "flush_writers", "queue_writes"]


class CommandTooLarge(RpcError):
    """A command would be larger than the bus carries (its node's context and output are too
    large to send): it was not queued. A control request gets it as its ``too_large`` answer;
    the steps that dispatch or route a node fail that node run with it."""

    def __init__(self, what: str, size: int, limit: int) -> None:
        super().__init__(
            ErrorBody(
                code=ErrorCode.TOO_LARGE,
                message=f"the {what} command would be {size:,} bytes, more than the message "
                f"bus carries ({limit:,} bytes): the node's input context and output are too "
                "large to send",
            )
        )


_SAVE_PROGRESS = (
    f"UPDATE {runs.schema}.runs AS r SET last_sequence = p.last_sequence, "
    "node_executions = p.node_executions, updated_at = %(updated_at)s "
    "FROM unnest(%(ids)b::text[], %(sequences)b::integer[], %(executions)b::integer[]) "
    "AS p(id, last_sequence, node_executions) WHERE r.id = p.id"
)
"""Saves the sequence and counters of every run of a batch whose status and outcome stay as
they are and whose state snapshot is not due (the snapshot, stored out of line, is left
alone)."""
_SAVE_PROGRESS_AND_STATE = (
    f"UPDATE {runs.schema}.runs AS r SET state = p.state, state_sequence = p.last_sequence, "
    "last_sequence = p.last_sequence, node_executions = p.node_executions, "
    "updated_at = %(updated_at)s "
    "FROM unnest(%(ids)b::text[], %(states)b::bytea[], %(sequences)b::integer[], "
    "%(executions)b::integer[]) AS p(id, state, last_sequence, node_executions) "
    "WHERE r.id = p.id"
)
"""The same, with a new state snapshot (see run_states.py)."""


class RunWriter:
    """Accumulates a run's new events (numbered by the run's sequence) and commands.

    Each emitted event is applied to ``state`` at once (``evolve``): the state is the fold of
    the run's events by construction. The run row keeps a snapshot of it, taken at event
    ``state_sequence``, and a flush rewrites it only when one is due (:attr:`snapshot_due`).
    The caller holds the run row lock
    (``SELECT ... FOR UPDATE``), so numbering is race-free; the event store's
    ``UNIQUE(stream_id, version)`` would still catch a second writer.

    Attributes:
        stop_node_runs: attempts (node run id -> attempt) whose workers must be told to stop
            once this commits.
        wake_at: earliest timer this transaction scheduled (the local sweeper wakes for it).
        run_values: extra columns of the run row to save (deadline, cleared error...).
        artifacts: the node-run artifact changes of this transaction (saved on flush).
        node_runs: the node-run projection writes of this transaction (buffered; written on
            flush, or before anything reads node runs).
        command_limit: largest command body, in bytes, :meth:`command` queues (unbounded if
            None).
        facts: what the run row says that no step changes (kept with the state after commit).
        before_read: awaited before a statement whose results the step reads (see
            :meth:`reading`): set while the transaction's first statements are still on their
            way, to wait for them.
    """

    def __init__(
        self,
        conn: AsyncConnection,
        *,
        graph: FlowchartGraph,
        run_id: str,
        last_sequence: int,
        state_sequence: int,
        current_status: str,
        state: RunState,
        trace: Trace,
        event_store: PostgresEventStore,
        outbox: Outbox,
        command_limit: int | None = None,
        facts: RunFacts | None = None,
    ) -> None:
        self.conn = conn
        self.graph = graph
        self.run_id = run_id
        self.state = state
        self.trace = trace
        self.current_status = current_status
        self.status: str | None = None
        self.error: dict[str, Any] | None = None
        self.outcome: dict[str, Any] | None = None
        self.stop_node_runs: dict[str, int] = {}
        self.wake_at: datetime | None = None
        self.run_values: dict[str, Any] = {}
        self.artifacts = ArtifactPatches()
        self.node_runs = NodeRunWrites()
        self._start_sequence = last_sequence
        self._state_sequence = state_sequence
        self._state_replaced = False
        self._events: list[NewEvent] = []
        self._messages: list[OutboxMessage] = []
        self._store = event_store
        self._outbox = outbox
        self.command_limit = command_limit
        self.facts = facts
        self.before_read: Callable[[], Awaitable[None]] | None = None

    async def reading(self) -> AsyncConnection:
        """The connection, ready for a statement whose results the step reads: the buffered
        node-run writes are written first (a transaction reads its own writes) and the
        statements sent ahead are waited for (:attr:`before_read`)."""
        await self.node_runs.flush(self.conn)
        if self.before_read is not None:
            await self.before_read()
        return self.conn

    def known(self) -> KnownRun:
        """The run as this writer's flush leaves it, once committed."""
        snapshot = not self.saves_progress_only or self.snapshot_due
        return KnownRun(
            state=self.state,
            last_sequence=self.sequence,
            state_sequence=self.sequence if snapshot else self._state_sequence,
            status=self.current_status,
            facts=self.facts,
        )

    def set_status(self, status: str) -> None:
        """Move the run to ``status`` (saved on flush)."""
        self.status = status
        self.current_status = status

    def record_control(
        self,
        action: str,
        status: str,
        request_id: str,
        *,
        reason: str | None = None,
        cancelled_node_run_ids: list[str] | None = None,
        node_run_id: str | None = None,
    ) -> None:
        """Move the run to ``status`` and record why in a ``run.controlled`` event."""
        self.set_status(status)
        self.emit(
            MessageType.RUN_CONTROLLED,
            RunControlled(
                action=action,
                status=status,
                request_id=request_id,
                reason=reason,
                cancelled_node_run_ids=cancelled_node_run_ids or [],
                node_run_id=node_run_id,
            ),
        )

    def replace_state(self, state: RunState) -> None:
        """Adopt a rebuilt state (a rewind); the caller emits the ``run.rewound`` event.

        The flush saves a snapshot: events folded onto an older one would not give it."""
        self.state = state
        self._state_replaced = True

    def wake(self, due: datetime) -> None:
        """Remember that a timer falls due at ``due``."""
        if self.wake_at is None or due < self.wake_at:
            self.wake_at = due

    @property
    def sequence(self) -> int:
        """The run's sequence after the events emitted so far."""
        return self._start_sequence + len(self._events)

    def emit(self, type_name: str, payload: Any, *, node_run_id: str | None = None) -> None:
        """Record a run timeline event (``entity.action``), apply it to the state and queue
        its publication."""
        evolve(self.state, self.graph, type_name, payload)
        self.artifacts.note_event(type_name, payload)
        sequence = self.sequence + 1
        envelope = make_envelope(
            type_name,
            payload,
            trace=self.trace,
            idempotency_key=f"run:{self.run_id}:seq:{sequence}",
            run_id=self.run_id,
            node_run_id=node_run_id,
            sequence=sequence,
        )
        body = encode(envelope)
        entity, _, action = type_name.partition(".")
        self._events.append(
            NewEvent(
                event_id=envelope.event_id,
                type=type_name,
                type_version=envelope.version,
                envelope=body,
                idempotency_key=envelope.idempotency_key,
            )
        )
        self._messages.append(
            OutboxMessage(
                subject=subjects.run_event(self.run_id, entity, action),
                msg_id=envelope.idempotency_key,
                body=body,
            )
        )

    def command(
        self,
        subject: str,
        type_name: str,
        payload: Any,
        *,
        idempotency_key: str,
        node_run_id: str | None = None,
    ) -> None:
        """Queue a command for publication when the transaction commits.

        Raises:
            CommandTooLarge: The command is larger than :attr:`command_limit` (nothing queued).
        """
        envelope = make_envelope(
            type_name,
            payload,
            trace=self.trace,
            idempotency_key=idempotency_key,
            kind=MessageKind.COMMAND,
            run_id=self.run_id,
            node_run_id=node_run_id,
        )
        body = encode(envelope)
        if self.command_limit is not None and len(body) > self.command_limit:
            raise CommandTooLarge(type_name, len(body), self.command_limit)
        self._messages.append(OutboxMessage(subject=subject, msg_id=idempotency_key, body=body))

    async def save_run(self, now: datetime) -> None:
        """Save the run row: a state snapshot, sequence, counters and the changed status or
        outcome."""
        values: dict[str, Any] = {
            "state": msgspec.msgpack.encode(self.state),
            "state_sequence": self.sequence,
            "last_sequence": self.sequence,
            "node_executions": self.state.node_executions,
            "updated_at": now,
        }
        if self.status is not None:
            values["status"] = self.status
        if self.error is not None:
            values["error"] = self.error
        if self.outcome is not None:
            values["outcome"] = self.outcome
        values.update(self.run_values)
        await self.conn.execute(sa.update(runs).where(runs.c.id == self.run_id).values(**values))

    async def flush(self) -> list[PendingMessage]:
        """Append events, queue outbox messages and save the run projection.

        Returns:
            The outbox rows to hand to the relay once the transaction has committed.
        """
        return await flush_writers(self.conn, [self])

    @property
    def saves_progress_only(self) -> bool:
        """Whether saving this step changes only the state, sequence and counters (the
        common step, saved with the others of its batch in one statement)."""
        return (
            self.status is None
            and self.error is None
            and self.outcome is None
            and not self.run_values
        )

    @property
    def snapshot_due(self) -> bool:
        """Whether the flush rewrites the state snapshot: the run has gained
        :data:`SNAPSHOT_EVERY` events since the last one, or the state was replaced (a
        rewind). A step that changes the run's status or outcome always saves one."""
        return self._state_replaced or self.sequence - self._state_sequence >= SNAPSHOT_EVERY


def _progress(writers: list[RunWriter], now: datetime) -> dict[str, Any]:
    """The parameters of :data:`_SAVE_PROGRESS` for ``writers``' runs."""
    return {
        "ids": [w.run_id for w in writers],
        "sequences": [w.sequence for w in writers],
        "executions": [w.state.node_executions for w in writers],
        "updated_at": now,
    }


async def flush_writers(
    conn: AsyncConnection, writers: list[RunWriter], *, commit: bool = False
) -> list[PendingMessage]:
    """Write what the steps of one transaction produced, for all their runs at once: the
    buffered node-run inserts and updates, one events insert, one outbox insert, one save of
    every common step's sequence and counters (and one of the due state snapshots), one
    artifacts upsert.

    With ``commit`` (an explicit transaction, see ``Database.explicit_transaction``), a COMMIT
    is queued behind them: the writes and the commit cost one round trip.

    Returns:
        The outbox rows (each run's in the order they were queued) to hand to the relay once
        the transaction has committed.
    """
    # Pipeline mode: the statements are sent back to back and their results read together
    # at the end (one round trip instead of one each); a failure still fails the transaction,
    # and a COMMIT queued behind a failed statement is not run.
    async with (await driver_connection(conn)).pipeline():
        outbox = await queue_writes(conn, writers, commit=commit)
    return await outbox.written()


async def queue_writes(
    conn: AsyncConnection, writers: list[RunWriter], *, commit: bool = False
) -> OutboxInsert:
    """Send the statements of :func:`flush_writers` inside the caller's driver pipeline,
    reading no result.

    Returns:
        The outbox insert: its rows are read (:meth:`OutboxInsert.written`) once the pipeline
        has synced.
    """
    driver = await driver_connection(conn)
    if not writers:
        if commit:
            await driver.execute(COMMIT, prepare=False)
        return OutboxInsert(None, [])
    first = writers[0]
    now = datetime.now(UTC)
    common = [w for w in writers if w.saves_progress_only and not w.snapshot_due]
    snapshots = [w for w in writers if w.saves_progress_only and w.snapshot_due]
    for writer in writers:
        if not writer.saves_progress_only:
            await writer.save_run(now)  # Core, no result read: fine in a pipeline
    await flush_node_run_writes(conn, [w.node_runs for w in writers])
    await first._store.append_streams(
        conn, [(w.run_id, w._start_sequence, w._events) for w in writers]
    )
    if common:
        # the common step: one fixed statement for every run of the batch
        await driver.execute(_SAVE_PROGRESS, _progress(common, now))
    if snapshots:
        states = [msgspec.msgpack.encode(w.state) for w in snapshots]
        await driver.execute(
            _SAVE_PROGRESS_AND_STATE, {**_progress(snapshots, now), "states": states}
        )
    # after the node runs: an artifact takes its node run's status from the node_runs row
    await ArtifactPatches.flush_all(conn, [(w.artifacts, w.trace) for w in writers])
    outbox = await first._outbox.insert(conn, [m for w in writers for m in w._messages])
    if commit:
        await driver.execute(COMMIT, prepare=False)
    return outbox
