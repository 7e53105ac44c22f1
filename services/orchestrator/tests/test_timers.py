"""Timers against real Postgres: node attempt timeouts (timeout + grace), retry backoff, and the
run's max runtime deadline, each acted on by the timer sweeper.

The coordinator, the run control and the sweeper run in-process without a bus, as in
``test_control.py`` (the harness of conftest.py: the relay never runs, commands stay in the
outbox; the test plays the router and the workers). Time is a test clock: the coordinator
schedules timers and deadlines by it and the sweeper sweeps at it, so a test moves it to just
before or at a due time and calls the sweeper's one pass (``sweep_once``) directly; nothing
sleeps.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import msgspec
import pytest

from llmctl_contracts import ErrorBody, ErrorCode, MessageType
from llmctl_contracts.events import NodeCancelRequested, NodeFailed, NodeRetryScheduled, RunFailed
from llmctl_infra.test_flowcharts import fan, task

if TYPE_CHECKING:  # the fixtures' types; conftest is not importable under importlib mode
    from conftest import Clock, Orchestrator

GRACE = 20.0
"""The node timeout grace the coordinator runs with here (not the default 15 s)."""
BOOM = ErrorBody(code=ErrorCode.INTERNAL, message="boom")
SECOND = timedelta(seconds=1)


def _task_ids(chart: dict[str, Any]) -> list[str]:
    """The task node ids of a chart, in order."""
    return [n["id"] for n in chart["nodes"] if n["type"] == "task"]


def _timeout(attempt: int, seconds: str) -> ErrorBody:
    """The error the sweeper fails a silent attempt with."""
    return ErrorBody(
        code=ErrorCode.TIMEOUT,
        message=f"attempt {attempt} reported no result within its timeout of {seconds} s",
    )


@pytest.fixture
def orchestrator(make_orchestrator: Callable[..., Orchestrator], clock: Clock) -> Orchestrator:
    """Overrides conftest's ``orchestrator``: this one runs on the test clock, with ``GRACE``."""
    return make_orchestrator(clock, grace=GRACE, topic="timers")


def _error(row: Any) -> ErrorBody | None:
    return None if row.error is None else msgspec.convert(row.error, ErrorBody)


# -- a silent attempt times out ----------------------------------------------------------------


async def test_a_silent_attempt_times_out_is_retried_after_its_backoff_and_fails_when_out_of_attempts(
    orchestrator: Orchestrator, clock: Clock
) -> None:
    chart = fan(
        task("work", timeout_seconds=60, max_attempts=2, retry_backoff_ms=5_000),
        defaults={"max_attempts": 1, "retry_backoff_ms": 100},
    )
    t0 = clock.now
    run_id = await orchestrator.start(chart)
    await orchestrator.routed(run_id, "start", "start-work")
    work = (await orchestrator.node_run(run_id, "work")).id
    due = t0 + timedelta(seconds=60 + GRACE)
    assert await orchestrator.timers(run_id) == [("timeout", work, 1, due)]

    assert await orchestrator.sweep(due - SECOND) == 0  # not yet
    assert (await orchestrator.statuses(run_id))["work"] == ("dispatched", 1)
    assert await orchestrator.payloads(run_id, MessageType.NODE_RETRY_SCHEDULED) == []

    assert await orchestrator.sweep(due) == 1  # attempt 1 said nothing: it fails, with a retry
    assert await orchestrator.payloads(run_id, MessageType.NODE_RETRY_SCHEDULED) == [
        NodeRetryScheduled(
            node_run_id=work,
            node_id="work",
            attempt=1,
            error=_timeout(1, "60"),
            next_attempt=2,
            delay_ms=5_000,  # the node's backoff, not the defaults'
        )
    ]
    row = await orchestrator.node_run(run_id, "work")
    assert (row.status, row.attempt, _error(row)) == ("queued", 1, _timeout(1, "60"))
    assert (await orchestrator.record(run_id)).status == "running"
    assert orchestrator.stops.notices == [
        NodeCancelRequested(run_id=run_id, node_run_ids=[work], attempts={work: 1})
    ]
    retry_due = due + timedelta(milliseconds=5_000)
    assert await orchestrator.timers(run_id) == [("retry", work, 2, retry_due)]

    # the timed-out attempt reports after all: it is no longer the attempt in flight
    sequence = (await orchestrator.record(run_id)).last_sequence
    await orchestrator.executed(run_id, work, "work", 1, output={"late": True})
    assert (await orchestrator.record(run_id)).last_sequence == sequence
    assert (await orchestrator.statuses(run_id))["work"] == ("queued", 1)
    assert await orchestrator.timers(run_id) == [("retry", work, 2, retry_due)]

    assert await orchestrator.sweep(retry_due - timedelta(milliseconds=1)) == 0
    assert await orchestrator.launched(run_id) == [("work", 1)]
    assert await orchestrator.sweep(retry_due) == 1  # the backoff is over: attempt 2 goes out
    assert await orchestrator.launched(run_id) == [("work", 1), ("work", 2)]
    assert (await orchestrator.statuses(run_id))["work"] == ("dispatched", 2)
    second_due = retry_due + timedelta(seconds=60 + GRACE)
    assert await orchestrator.timers(run_id) == [("timeout", work, 2, second_due)]

    sequence = (await orchestrator.record(run_id)).last_sequence
    await orchestrator.executed(run_id, work, "work", 1, output={"later": True})
    assert (await orchestrator.record(run_id)).last_sequence == sequence

    # attempt 2 is silent too and was the node's last: the node run and the run fail
    assert await orchestrator.sweep(second_due) == 1
    row = await orchestrator.node_run(run_id, "work")
    assert (row.status, row.attempt, _error(row)) == ("failed", 2, _timeout(2, "60"))
    assert await orchestrator.payloads(run_id, MessageType.NODE_FAILED) == [
        NodeFailed(node_run_id=work, node_id="work", error=_timeout(2, "60"), attempt=2)
    ]
    assert len(await orchestrator.payloads(run_id, MessageType.NODE_RETRY_SCHEDULED)) == 1
    failed = await orchestrator.record(run_id)
    assert (failed.status, failed.error) == ("failed", _timeout(2, "60"))
    [run_failed] = await orchestrator.payloads(run_id, MessageType.RUN_FAILED)
    assert (run_failed.failed_node_run_id, run_failed.cancelled_node_run_ids) == (work, [])
    assert orchestrator.stops.notices[-1] == NodeCancelRequested(
        run_id=run_id, node_run_ids=[work], attempts={work: 2}
    )
    assert await orchestrator.timers(run_id) == []
    assert await orchestrator.launched(run_id) == [("work", 1), ("work", 2)]
    await orchestrator.assert_rebuilds(run_id)


async def test_a_silent_attempt_retried_at_once_is_still_told_to_stop(
    orchestrator: Orchestrator, clock: Clock
) -> None:
    """With no backoff the retry goes out in the timeout's own step; the worker still running
    the silent attempt is told to stop that attempt, and only that one."""
    chart = fan(task("work", timeout_seconds=30, max_attempts=2, retry_backoff_ms=0))
    t0 = clock.now
    run_id = await orchestrator.start(chart)
    await orchestrator.routed(run_id, "start", "start-work")
    work = (await orchestrator.node_run(run_id, "work")).id
    assert await orchestrator.sweep(t0 + timedelta(seconds=30 + GRACE)) == 1
    assert await orchestrator.launched(run_id) == [("work", 1), ("work", 2)]
    assert (await orchestrator.statuses(run_id))["work"] == ("dispatched", 2)
    assert orchestrator.stops.notices == [
        NodeCancelRequested(run_id=run_id, node_run_ids=[work], attempts={work: 1})
    ]
    await orchestrator.executed(run_id, work, "work", 2, output={"done": True})
    assert (await orchestrator.statuses(run_id))["work"] == ("succeeded", 2)
    await orchestrator.assert_rebuilds(run_id)


async def test_a_silent_last_attempt_fails_the_run_and_cancels_its_sibling_in_flight(
    orchestrator: Orchestrator, clock: Clock
) -> None:
    t0 = clock.now
    run_id = await orchestrator.start(fan(task("a", timeout_seconds=30), task("b")))
    await orchestrator.routed(run_id, "start", "start-a", "start-b")
    a, b = [(await orchestrator.node_run(run_id, n)).id for n in ("a", "b")]
    a_due = t0 + timedelta(seconds=30 + GRACE)
    b_due = t0 + timedelta(seconds=1800 + GRACE)  # the built-in default timeout
    assert await orchestrator.timers(run_id) == [("timeout", a, 1, a_due), ("timeout", b, 1, b_due)]

    assert await orchestrator.sweep(a_due) == 1
    assert await orchestrator.statuses(run_id) == {
        "start": ("succeeded", 1),
        "a": ("failed", 1),
        "b": ("cancelled", 1),
    }
    failed = await orchestrator.record(run_id)
    assert (failed.status, failed.error) == ("failed", _timeout(1, "30"))
    assert await orchestrator.payloads(run_id, MessageType.NODE_RETRY_SCHEDULED) == []
    [run_failed] = await orchestrator.payloads(run_id, MessageType.RUN_FAILED)
    assert run_failed == RunFailed(
        error=_timeout(1, "30"),
        failed_node_run_id=a,
        node_executions=run_failed.node_executions,
        unconsumed_tokens=run_failed.unconsumed_tokens,
        cancelled_node_run_ids=[b],
    )
    # one notice stops the silent attempt and the sibling the failure cancelled
    assert orchestrator.stops.notices == [
        NodeCancelRequested(run_id=run_id, node_run_ids=sorted([a, b]), attempts={a: 1, b: 1})
    ]

    # late reports of either attempt change nothing
    await orchestrator.executed(run_id, a, "a", 1, output={"late": True})
    await orchestrator.executed(run_id, b, "b", 1, output={"late": True})
    assert await orchestrator.record(run_id) == failed
    assert (await orchestrator.statuses(run_id))["b"] == ("cancelled", 1)

    # the cancelled sibling's timer comes due: it is dropped and does nothing
    assert await orchestrator.timers(run_id) == [("timeout", b, 1, b_due)]
    assert await orchestrator.sweep(b_due) == 0
    assert await orchestrator.timers(run_id) == []
    assert await orchestrator.record(run_id) == failed
    assert len(orchestrator.stops.notices) == 1
    await orchestrator.assert_rebuilds(run_id)


# -- timers that no longer matter --------------------------------------------------------------


async def test_an_attempt_that_reports_in_time_leaves_no_timer_to_act(
    orchestrator: Orchestrator, clock: Clock
) -> None:
    chart = fan(task("work", timeout_seconds=60, max_attempts=2, retry_backoff_ms=1_000))
    t0 = clock.now
    run_id = await orchestrator.start(chart)
    await orchestrator.routed(run_id, "start", "start-work")
    work = (await orchestrator.node_run(run_id, "work")).id

    clock.now = t0 + timedelta(seconds=10)
    await orchestrator.executed(run_id, work, "work", 1, error=BOOM)  # a failure, in time
    retry_due = clock.now + timedelta(milliseconds=1_000)
    assert await orchestrator.timers(run_id) == [("retry", work, 2, retry_due)]
    assert await orchestrator.sweep(retry_due) == 1
    second_due = retry_due + timedelta(seconds=60 + GRACE)
    assert await orchestrator.timers(run_id) == [("timeout", work, 2, second_due)]

    clock.now = retry_due + timedelta(seconds=5)
    await orchestrator.executed(run_id, work, "work", 2, output={"done": True})
    assert await orchestrator.timers(run_id) == []
    before = await orchestrator.record(run_id)
    assert await orchestrator.sweep(second_due + timedelta(days=1)) == 0  # past every due time
    assert await orchestrator.record(run_id) == before  # no timer left: nothing written
    assert (await orchestrator.statuses(run_id))["work"] == ("succeeded", 2)

    await orchestrator.routed(run_id, "work", "work-end")
    await orchestrator.routed(run_id, "end", end=True)
    assert (await orchestrator.record(run_id)).status == "succeeded"
    assert await orchestrator.launched(run_id) == [("work", 1), ("work", 2)]
    await orchestrator.assert_rebuilds(run_id)


async def test_the_timeout_timer_of_an_attempt_a_node_retry_replaced_does_nothing(
    orchestrator: Orchestrator, clock: Clock
) -> None:
    """b's attempt 1 is cancelled by a's failure; the retry of a runs b again as attempt 2.
    The timer of attempt 1 is still pending, and does nothing when it comes due."""
    t0 = clock.now
    run_id = await orchestrator.start(fan(task("a"), task("b")))
    await orchestrator.routed(run_id, "start", "start-a", "start-b")
    a, b = [(await orchestrator.node_run(run_id, n)).id for n in ("a", "b")]
    first_due = t0 + timedelta(seconds=1800 + GRACE)

    clock.now = t0 + timedelta(seconds=100)
    await orchestrator.executed(run_id, a, "a", 1, error=BOOM)
    assert (await orchestrator.record(run_id)).status == "failed"
    assert (await orchestrator.statuses(run_id))["b"] == ("cancelled", 1)
    await orchestrator.control(run_id, "retry", "retry-a", node_run_id=a)
    assert await orchestrator.statuses(run_id) == {
        "start": ("succeeded", 1),
        "a": ("dispatched", 2),
        "b": ("dispatched", 2),
    }
    second_due = clock.now + timedelta(seconds=1800 + GRACE)
    assert sorted(await orchestrator.timers(run_id)) == sorted(
        [
            ("timeout", a, 2, second_due),
            ("timeout", b, 1, first_due),  # attempt 1's, left behind
            ("timeout", b, 2, second_due),
        ]
    )

    before = await orchestrator.record(run_id)
    notices = list(orchestrator.stops.notices)
    assert await orchestrator.sweep(first_due) == 0
    assert sorted(await orchestrator.timers(run_id)) == sorted(
        [("timeout", a, 2, second_due), ("timeout", b, 2, second_due)]
    )
    assert await orchestrator.record(run_id) == before  # the row untouched, updated_at too
    assert (await orchestrator.statuses(run_id))["b"] == ("dispatched", 2)
    assert orchestrator.stops.notices == notices

    assert (await orchestrator.finish_fork(run_id, a, b, (2, 2))).status == "succeeded"
    await orchestrator.assert_rebuilds(run_id)


async def test_the_retry_timer_of_a_node_run_a_node_retry_requeued_does_nothing(
    orchestrator: Orchestrator, clock: Clock
) -> None:
    """a awaits its retry (attempt 2) when b's failure cancels it; the retry of b runs a again
    at once as attempt 2, which fails and awaits its retry as attempt 3. The timer set for the
    first wait comes due meanwhile: it dispatches nothing (attempt 2 is never sent twice)."""
    chart = fan(task("a", max_attempts=2, retry_backoff_ms=10_000), task("b"))
    t0 = clock.now
    run_id = await orchestrator.start(chart)
    await orchestrator.routed(run_id, "start", "start-a", "start-b")
    a, b = [(await orchestrator.node_run(run_id, n)).id for n in ("a", "b")]
    await orchestrator.executed(run_id, a, "a", 1, error=BOOM)
    stale_due = t0 + timedelta(seconds=10)
    assert await orchestrator.timers(run_id) == [
        ("retry", a, 2, stale_due),
        ("timeout", b, 1, t0 + timedelta(seconds=1800 + GRACE)),
    ]
    await orchestrator.executed(run_id, b, "b", 1, error=BOOM)
    assert (await orchestrator.record(run_id)).status == "failed"
    assert (await orchestrator.statuses(run_id))["a"] == ("cancelled", 1)

    clock.now = t0 + timedelta(seconds=1)
    await orchestrator.control(run_id, "retry", "retry-b", node_run_id=b)
    assert sorted(await orchestrator.launched(run_id)) == [("a", 1), ("a", 2), ("b", 1), ("b", 2)]
    clock.now = t0 + timedelta(seconds=2)
    await orchestrator.executed(run_id, a, "a", 2, error=BOOM)  # a's budget is fresh: 2 more
    retry_due = clock.now + timedelta(seconds=10)
    assert ("retry", a, 3, retry_due) in await orchestrator.timers(run_id)
    assert (await orchestrator.statuses(run_id))["a"] == ("queued", 2)

    before = await orchestrator.record(run_id)
    assert await orchestrator.sweep(stale_due) == 0
    assert ("retry", a, 2, stale_due) not in await orchestrator.timers(run_id)
    assert sorted(await orchestrator.launched(run_id)) == [("a", 1), ("a", 2), ("b", 1), ("b", 2)]
    assert await orchestrator.record(run_id) == before  # the row untouched, updated_at too
    assert (await orchestrator.statuses(run_id))["a"] == ("queued", 2)

    assert await orchestrator.sweep(retry_due) == 1  # a's own retry timer does act
    assert (await orchestrator.launched(run_id))[-1] == ("a", 3)
    assert (await orchestrator.finish_fork(run_id, a, b, (3, 2))).status == "succeeded"
    await orchestrator.assert_rebuilds(run_id)


async def test_the_timeout_timer_of_a_node_run_superseded_by_a_rewind_does_nothing(
    orchestrator: Orchestrator, clock: Clock
) -> None:
    t0 = clock.now
    run_id = await orchestrator.start(fan(task("work")))
    await orchestrator.routed(run_id, "start", "start-work")
    old = (await orchestrator.node_run(run_id, "work")).id
    old_due = t0 + timedelta(seconds=1800 + GRACE)
    assert (await orchestrator.control(run_id, "cancel", "cancel")).status == "cancelled"
    assert await orchestrator.timers(run_id) == [("timeout", old, 1, old_due)]

    clock.now = t0 + timedelta(seconds=100)
    await orchestrator.control(run_id, "rewind", "rewind", node_run_id=old)
    new = (await orchestrator.node_run(run_id, "work")).id
    assert new != old
    new_due = clock.now + timedelta(seconds=1800 + GRACE)
    assert await orchestrator.timers(run_id) == [
        ("timeout", old, 1, old_due),
        ("timeout", new, 1, new_due),
    ]

    before = await orchestrator.record(run_id)
    notices = list(orchestrator.stops.notices)
    assert await orchestrator.sweep(old_due) == 0
    assert await orchestrator.timers(run_id) == [("timeout", new, 1, new_due)]
    assert await orchestrator.record(run_id) == before  # the row untouched, updated_at too
    assert (await orchestrator.statuses(run_id))["work"] == ("dispatched", 1)
    assert orchestrator.stops.notices == notices

    # the replacing node run's own timer does act
    assert await orchestrator.sweep(new_due) == 1
    failed = await orchestrator.record(run_id)
    assert (failed.status, failed.error) == ("failed", _timeout(1, "1800"))
    [run_failed] = await orchestrator.payloads(run_id, MessageType.RUN_FAILED)
    assert run_failed.failed_node_run_id == new
    await orchestrator.assert_rebuilds(run_id)


# -- where the timeout, attempts and backoff come from -----------------------------------------


async def test_flowchart_defaults_apply_where_a_node_sets_nothing_and_its_own_values_win(
    orchestrator: Orchestrator, clock: Clock
) -> None:
    chart = fan(
        task("plain"),
        task("own", timeout_seconds=40, max_attempts=3, retry_backoff_ms=700),
        task("eager", retry_backoff_ms=0),
        defaults={"timeout_seconds": 120, "max_attempts": 2, "retry_backoff_ms": 3_000},
    )
    t0 = clock.now
    run_id = await orchestrator.start(chart)
    await orchestrator.routed(run_id, "start", "start-plain", "start-own", "start-eager")
    plain, own, eager = [(await orchestrator.node_run(run_id, n)).id for n in _task_ids(chart)]

    # the timeout: the timer at timeout + grace, and the one the worker is told to enforce
    assert sorted(await orchestrator.timers(run_id)) == sorted(
        [
            ("timeout", plain, 1, t0 + timedelta(seconds=120 + GRACE)),
            ("timeout", own, 1, t0 + timedelta(seconds=40 + GRACE)),
            ("timeout", eager, 1, t0 + timedelta(seconds=120 + GRACE)),
        ]
    )
    sent = {e.node.id: e.timeout_seconds for e in await orchestrator.executions(run_id)}
    assert sent == {"plain": 120, "own": 40, "eager": 120}

    # the backoff: defaults' 3 s, the node's 700 ms, and the node's 0 (over the defaults' 3 s)
    for node_run_id, node_id in ((plain, "plain"), (own, "own"), (eager, "eager")):
        await orchestrator.executed(run_id, node_run_id, node_id, 1, error=BOOM)
    delays = {
        r.node_id: r.delay_ms
        for r in await orchestrator.payloads(run_id, MessageType.NODE_RETRY_SCHEDULED)
    }
    assert delays == {"plain": 3_000, "own": 700, "eager": 0}
    assert sorted(await orchestrator.launched(run_id)) == [
        ("eager", 1),
        ("eager", 2),  # no backoff: dispatched at once, no retry timer
        ("own", 1),
        ("plain", 1),
    ]
    assert sorted(await orchestrator.timers(run_id)) == sorted(
        [
            ("retry", plain, 2, t0 + timedelta(seconds=3)),
            ("retry", own, 2, t0 + timedelta(milliseconds=700)),
            ("timeout", eager, 2, t0 + timedelta(seconds=120 + GRACE)),
        ]
    )
    assert await orchestrator.sweep(t0 + timedelta(milliseconds=700)) == 1
    assert await orchestrator.sweep(t0 + timedelta(seconds=3)) == 1
    assert await orchestrator.statuses(run_id) == {
        "start": ("succeeded", 1),
        "plain": ("dispatched", 2),
        "own": ("dispatched", 2),
        "eager": ("dispatched", 2),
    }

    # the attempts: own (3) retries after a second failure, with its backoff doubled ...
    await orchestrator.executed(run_id, own, "own", 2, error=BOOM)
    last = (await orchestrator.payloads(run_id, MessageType.NODE_RETRY_SCHEDULED))[-1]
    assert (last.node_id, last.attempt, last.delay_ms) == ("own", 2, 1_400)
    assert (await orchestrator.record(run_id)).status == "running"
    # ... while eager's second failure is its last under the defaults (2): the run fails
    await orchestrator.executed(run_id, eager, "eager", 2, error=BOOM)
    failed = await orchestrator.record(run_id)
    assert (failed.status, failed.error) == ("failed", BOOM)
    assert await orchestrator.statuses(run_id) == {
        "start": ("succeeded", 1),
        "plain": ("cancelled", 2),
        "own": ("cancelled", 2),
        "eager": ("failed", 2),
    }
    await orchestrator.assert_rebuilds(run_id)


# -- the run's max runtime ---------------------------------------------------------------------


async def test_a_run_past_its_max_runtime_fails_with_a_timeout_and_its_open_node_runs_end_cancelled(
    orchestrator: Orchestrator, clock: Clock
) -> None:
    chart = fan(task("a"), task("b"), limits={"max_runtime_seconds": 300, "max_parallel_nodes": 1})
    t0 = clock.now
    run_id = await orchestrator.start(chart)
    deadline = t0 + timedelta(seconds=300)
    assert await orchestrator.deadline(run_id) == deadline
    await orchestrator.routed(run_id, "start", "start-a", "start-b")
    a, b = [(await orchestrator.node_run(run_id, n)).id for n in ("a", "b")]
    assert (await orchestrator.statuses(run_id))["b"] == ("queued", 0)  # waits for a slot

    assert await orchestrator.sweep(deadline - SECOND) == 0
    assert (await orchestrator.record(run_id)).status == "running"
    assert await orchestrator.sweep(deadline + SECOND) == 1
    failed = await orchestrator.record(run_id)
    limit = ErrorBody(code=ErrorCode.TIMEOUT, message="run exceeded its max runtime of 300 s")
    assert (failed.status, failed.error) == ("failed", limit)
    [run_failed] = await orchestrator.payloads(run_id, MessageType.RUN_FAILED)
    assert (run_failed.error, run_failed.failed_node_run_id) == (limit, None)
    assert run_failed.cancelled_node_run_ids == sorted([a, b])
    assert await orchestrator.statuses(run_id) == {
        "start": ("succeeded", 1),
        "a": ("cancelled", 1),
        "b": ("cancelled", 0),
    }
    assert await orchestrator.payloads(run_id, MessageType.NODE_FAILED) == []
    # the worker running a is told to stop; b never reached one
    assert orchestrator.stops.notices == [
        NodeCancelRequested(run_id=run_id, node_run_ids=[a], attempts={a: 1})
    ]

    # a failed run is overdue no more, and a late report changes nothing
    assert await orchestrator.sweep(deadline + 2 * SECOND) == 0
    await orchestrator.executed(run_id, a, "a", 1, output={"late": True})
    assert await orchestrator.record(run_id) == failed
    assert (await orchestrator.statuses(run_id))["a"] == ("cancelled", 1)
    await orchestrator.assert_rebuilds(run_id)

    # reviving the run (a rewind) gives it a new deadline from then
    clock.now = t0 + timedelta(seconds=1_000)
    assert (await orchestrator.control(run_id, "rewind", "rw", node_run_id=a)).status == "running"
    assert await orchestrator.deadline(run_id) == clock.now + timedelta(seconds=300)
    await orchestrator.assert_rebuilds(run_id)


async def test_a_paused_run_past_its_max_runtime_fails_too(
    orchestrator: Orchestrator, clock: Clock
) -> None:
    chart = fan(task("work"), limits={"max_runtime_seconds": 90.5})
    t0 = clock.now
    run_id = await orchestrator.start(chart)
    await orchestrator.routed(run_id, "start", "start-work")
    work = (await orchestrator.node_run(run_id, "work")).id
    await orchestrator.control(run_id, "pause", "pause")
    await orchestrator.executed(run_id, work, "work", 1, output={"done": True})
    await orchestrator.routed(run_id, "work", "work-end")
    assert (await orchestrator.record(run_id)).status == "paused"
    assert (await orchestrator.statuses(run_id))["end"] == ("queued", 0)  # held by the pause

    assert await orchestrator.sweep(t0 + timedelta(seconds=90)) == 0
    assert await orchestrator.sweep(t0 + timedelta(seconds=91)) == 1
    failed = await orchestrator.record(run_id)
    assert (failed.status, failed.error) == (
        "failed",
        ErrorBody(code=ErrorCode.TIMEOUT, message="run exceeded its max runtime of 90.5 s"),
    )
    assert (await orchestrator.statuses(run_id))["end"] == ("cancelled", 0)
    await orchestrator.assert_rebuilds(run_id)


async def test_a_run_without_a_max_runtime_has_no_deadline(
    orchestrator: Orchestrator, clock: Clock
) -> None:
    run_id = await orchestrator.start(fan(task("work", timeout_seconds=86_400)))
    await orchestrator.routed(run_id, "start", "start-work")
    assert await orchestrator.deadline(run_id) is None
    assert await orchestrator.sweep(clock.now + timedelta(seconds=86_000)) == 0
    record = await orchestrator.record(run_id)
    assert (record.status, record.error) == ("running", None)
    assert (await orchestrator.statuses(run_id))["work"] == ("dispatched", 1)


# -- an unavailable provider or model ----------------------------------------------------------


@pytest.mark.parametrize("code", [ErrorCode.UNAVAILABLE, ErrorCode.INTERNAL, ErrorCode.TIMEOUT])
async def test_an_unavailable_error_fails_the_node_at_once_and_another_error_is_retried(
    orchestrator: Orchestrator, code: ErrorCode
) -> None:
    chart = fan(task("a", max_attempts=3, retry_backoff_ms=1_000), task("b"))
    run_id = await orchestrator.start(chart)
    await orchestrator.routed(run_id, "start", "start-a", "start-b")
    a, b = [(await orchestrator.node_run(run_id, n)).id for n in ("a", "b")]
    error = ErrorBody(code=code, message=f"the worker says {code}")
    await orchestrator.executed(run_id, a, "a", 1, error=error)

    scheduled = await orchestrator.payloads(run_id, MessageType.NODE_RETRY_SCHEDULED)
    record = await orchestrator.record(run_id)
    row = await orchestrator.node_run(run_id, "a")
    if code is ErrorCode.UNAVAILABLE:  # two attempts left, none used
        assert scheduled == []
        assert (row.status, row.attempt, _error(row)) == ("failed", 1, error)
        assert await orchestrator.payloads(run_id, MessageType.NODE_FAILED) == [
            NodeFailed(node_run_id=a, node_id="a", error=error, attempt=1)
        ]
        assert (record.status, record.error) == ("failed", error)
        assert (await orchestrator.statuses(run_id))["b"] == ("cancelled", 1)
        assert [t[:3] for t in await orchestrator.timers(run_id)] == [("timeout", b, 1)]
    else:
        assert [(s.attempt, s.next_attempt, s.delay_ms, s.error) for s in scheduled] == [
            (1, 2, 1_000, error)
        ]
        assert (row.status, row.attempt, _error(row)) == ("queued", 1, error)
        assert (record.status, record.error) == ("running", None)
        assert (await orchestrator.statuses(run_id))["b"] == ("dispatched", 1)
        assert ("retry", a, 2) in [t[:3] for t in await orchestrator.timers(run_id)]
    await orchestrator.assert_rebuilds(run_id)
