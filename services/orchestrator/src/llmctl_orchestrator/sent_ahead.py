"""A step's transaction that does not wait for its row locks and claims before it works.

The usual step transaction (``RunCoordinator._transaction``) costs two round trips: BEGIN with
the statement that claims the batch's messages and locks its run rows, whose answer says which
messages are new and what the rows hold; then the writes with the COMMIT. For a run whose last
step this service committed, it already knows what the row holds (``run_states.KnownRun``).
Its step can then send BEGIN, the locks and the claims in a pipeline and work while they
travel; the writes and the COMMIT follow in the same pipeline: one round trip.

The statements sent ahead make the transaction fail, so that its COMMIT commits nothing,
whenever the usual path would have done something else:

* :data:`LOCK_AS_KNOWN` locks the rows (in id order, as the usual path does) and fails unless
  each still has the status and sequences the service knew: another replica or a control
  request may have stepped the run since. The check is evaluated on the row as locked (a row
  updated while the statement waited for its lock is checked again as committed).
* :data:`CLAIM` inserts the messages into the inbox without ``ON CONFLICT``: one seen before
  (a redelivery) fails it.

The caller then rolls back and runs the batch the usual way, which sorts it out from the rows.
A step that must read before it writes waits for the statements' answers first
(:meth:`SentAhead.wait`, through ``RunWriter.reading``).

A rollback costs more than the round trip saved: the usual path runs after it, and psycopg
drops every prepared statement of a connection on ``ROLLBACK``. With one replica a rollback is
rare (a redelivery, a control request between two steps). With several, whose deliver group
hands a run's messages to any of them, the next step of a run is often taken by another
replica, and most sent-ahead steps would roll back: :class:`SendAheadPolicy` stops sending
ahead for a while when too many recent tries were rolled back.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any

import psycopg

from llmctl_libs.store.database import BEGIN

from .run_states import KnownRun
from .step_groups import QueuedStep
from .tables import runs, store

__all__ = ["CLAIM", "LOCK_AS_KNOWN", "SendAheadPolicy", "SentAhead", "claims", "rows_as_known"]

NOT_AS_KNOWN = "a run row is not as the last step of this orchestrator left it"
"""The text of the error :data:`LOCK_AS_KNOWN` raises (a failed cast to an integer)."""

LOCK_AS_KNOWN = (
    "WITH locked AS (SELECT r.status = k.status AND r.last_sequence = k.last_sequence "
    "AND r.state_sequence = k.state_sequence AS as_known "
    f"FROM {runs.schema}.runs r JOIN unnest(%(run_ids)b::text[], %(statuses)b::text[], "
    "%(sequences)b::integer[], %(state_sequences)b::integer[]) "
    "AS k(id, status, last_sequence, state_sequence) ON r.id = k.id "
    "ORDER BY r.id FOR UPDATE OF r) "
    "SELECT (CASE WHEN count(*) FILTER (WHERE as_known) = %(runs)s THEN '1' "
    f"ELSE '{NOT_AS_KNOWN}' END)::integer FROM locked"
)
"""Locks the runs' rows and fails (``invalid_text_representation``, naming
:data:`NOT_AS_KNOWN`) unless every one exists and is as known: no exception-raising function
is needed, and the failing branch is evaluated only when taken."""

CLAIM = (
    f"INSERT INTO {store.inbox.schema}.inbox (consumer, message_id) "
    "SELECT * FROM unnest(%(consumers)b::text[], %(message_ids)b::text[])"
)
"""Claims messages, failing (``unique_violation``) if any was claimed before."""


def rows_as_known(known: dict[str, KnownRun]) -> dict[str, Any]:
    """The parameters of :data:`LOCK_AS_KNOWN`."""
    ids = list(known)
    return {
        "run_ids": ids,
        "statuses": [known[i].status for i in ids],
        "sequences": [known[i].last_sequence for i in ids],
        "state_sequences": [known[i].state_sequence for i in ids],
        "runs": len(ids),
    }


def claims(unique: dict[tuple[str, str], tuple[str, QueuedStep]]) -> dict[str, Any]:
    """The parameters of :data:`CLAIM` (and of the usual path's claim) for the messages of
    a batch by (inbox scope, message id)."""
    return {
        "consumers": [scope for scope, _ in unique],
        "message_ids": [key for _, key in unique],
    }


class SentAhead:
    """A driver pipeline whose statements travel while the caller works on.

    On entry it is open; :meth:`send_begin` queues BEGIN, the locks and the claims. Leaving the
    block reads every answer (raising the first error, with the transaction then aborted).
    """

    def __init__(self, driver: psycopg.AsyncConnection[Any]) -> None:
        self._driver = driver
        self._stack = AsyncExitStack()
        self.waiting = False
        """Whether statements were sent whose answers have not been read."""

    async def __aenter__(self) -> SentAhead:
        await self._stack.__aenter__()
        await self.resume()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        self.waiting = False
        return await self._stack.__aexit__(exc_type, exc, traceback)

    async def send_begin(
        self,
        known: dict[str, KnownRun],
        unique: dict[tuple[str, str], tuple[str, QueuedStep]],
    ) -> None:
        """Queue BEGIN, the lock of the known rows and the claim of the messages."""
        await self._driver.execute(BEGIN, prepare=False)
        await self._driver.execute(LOCK_AS_KNOWN, rows_as_known(known))
        await self._driver.execute(CLAIM, claims(unique))

    async def wait(self) -> None:
        """Read the answers of everything sent so far (one round trip, if any is pending)."""
        if self.waiting:
            self.waiting = False
            await self._stack.aclose()

    async def resume(self) -> None:
        """Open the pipeline again after :meth:`wait` (statements sent next travel together)."""
        if not self.waiting:
            await self._stack.enter_async_context(self._driver.pipeline())
            self.waiting = True


class SendAheadPolicy:
    """Whether to send a batch's first statements ahead: yes, unless more than
    ``max_rolled_back`` of the last ``window`` tries were rolled back; then not for the next
    ``rest`` batches, after which it tries again.

    Args:
        window: Tries counted together.
        max_rolled_back: Rollbacks a window tolerates.
        rest: Batches run the usual way after a window with too many rollbacks.
    """

    def __init__(self, *, window: int = 32, max_rolled_back: int = 4, rest: int = 1024) -> None:
        self._window = window
        self._max_rolled_back = max_rolled_back
        self._rest = rest
        self._tries = 0
        self._rolled_back = 0
        self._resting = 0
        self.committed = 0
        """Batches sent ahead that committed, in all."""
        self.rolled_back = 0
        """Batches sent ahead that were rolled back (and run the usual way), in all."""

    def try_now(self) -> bool:
        """Whether this batch may be sent ahead (counts a batch of a rest)."""
        if self._resting:
            self._resting -= 1
            return False
        return True

    def record(self, *, committed: bool) -> None:
        """Count a try's outcome; too many rollbacks in the window start a rest."""
        self._tries += 1
        if committed:
            self.committed += 1
        else:
            self.rolled_back += 1
            self._rolled_back += 1
        if self._rolled_back > self._max_rolled_back:
            self._resting = self._rest
        if self._rolled_back > self._max_rolled_back or self._tries >= self._window:
            self._tries = self._rolled_back = 0
