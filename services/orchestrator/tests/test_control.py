"""Workflow control against real Postgres: which run and node-run statuses each action takes
and the conflict it answers otherwise, idempotency by request id, and what each action leaves
in the run's events and projections.

The coordinator and the run control run in-process without a bus (the ``orchestrator`` fixture
of conftest.py): what a step publishes stays in the outbox, the test plays the router and the
workers by handing the coordinator their reports, and the one broadcast a step makes (telling
workers to stop) is recorded.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import pytest

from llmctl_contracts import ContractError, ErrorBody, ErrorCode, MessageType
from llmctl_contracts.events import NodeCancelRequested, RunRewound
from llmctl_contracts.rpc import ControlRun, RunRecord
from llmctl_infra.test_flowcharts import chain, fan, task
from llmctl_infra.testing import control_command

if TYPE_CHECKING:  # the fixture's type; conftest is not importable under importlib mode
    from conftest import Orchestrator

NODE_ACTIONS = ("retry", "skip", "rewind")
ACTIONS = ("pause", "resume", "cancel", *NODE_ACTIONS)
BOOM = ErrorBody(code=ErrorCode.INTERNAL, message="boom")


def _chain(*tasks: str, **settings: Any) -> dict[str, Any]:
    """start -> tasks... -> end; connector ``a-b`` joins ``a`` to ``b``."""
    return chain(*(task(t) for t in tasks), **settings)


def _fork(**settings: Any) -> dict[str, Any]:
    """start -> {a, b} -> end (the end joins both branches)."""
    return fan(task("a"), task("b"), **settings)


async def _failed_fork(
    orchestrator: Orchestrator, action: str
) -> tuple[str, Any, Any, Any, RunRecord]:
    """A fork run that ``a`` failed (by its one attempt), and the proof that ``action`` takes
    only that node run: on ``start`` (succeeded) and on ``b`` (cancelled by the failure) it is
    refused, and the refusals change nothing. Returns the run id, the node runs of start, a
    and b, and the failed run's record."""
    run_id = await orchestrator.start(_fork())
    await orchestrator.routed(run_id, "start", "start-a", "start-b")
    start, a, b = [await orchestrator.node_run(run_id, n) for n in ("start", "a", "b")]
    await orchestrator.executed(run_id, a.id, "a", 1, error=BOOM)
    failed = await orchestrator.record(run_id)
    for other in (start, b):
        error = await orchestrator.refused(
            run_id, action, f"{action}-{other.node_id}", node_run_id=other.id
        )
        assert _conflict(error, "node_run_id").startswith("only the node run that failed the run")
    assert await orchestrator.record(run_id) == failed
    return run_id, start, a, b, failed


def _conflict(error: ErrorBody, field: str) -> str:
    """The reason of a ``conflict`` about ``field``."""
    assert error.code is ErrorCode.CONFLICT, error
    [detail] = error.details
    assert detail.field == field, error
    return detail.reason


# -- which run statuses each action takes ------------------------------------------------------

REFUSED = {
    "running": ("resume", "retry", "rewind"),
    "pausing": ("pause", "retry", "rewind"),
    "paused": ("pause", "retry"),
    "succeeded": ("pause", "resume", "cancel", "retry", "skip"),
    "failed": ("pause", "resume", "cancel"),
    "cancelled": ("pause", "resume", "cancel", "retry", "skip"),
}
"""The actions a run in each status refuses (the gateway's and the control docs' rules)."""


@pytest.mark.parametrize("status", list(REFUSED))
async def test_a_run_refuses_the_actions_its_status_does_not_allow(
    orchestrator: Orchestrator, status: str
) -> None:
    run_id, work = await orchestrator.run_in(status)
    before = await orchestrator.record(run_id)
    for action in REFUSED[status]:
        node = {"node_run_id": work} if action in NODE_ACTIONS else {}
        error = await orchestrator.refused(run_id, action, f"{action}-refused", **node)
        assert _conflict(error, "action") == f"not allowed while the run is {status}", action
        assert error.message == f"cannot {action} a run that is {status}"
    assert await orchestrator.record(run_id) == before  # nothing written, not even updated_at
    # a refused request leaves its request id unused: the same id may ask for something else
    allowed = [a for a in ACTIONS if a not in REFUSED[status] and a not in NODE_ACTIONS]
    if allowed:
        refused_id = f"{REFUSED[status][0]}-refused"
        changed = await orchestrator.control(run_id, allowed[0], refused_id)
        assert changed.status != status
        assert [c.request_id for c in await orchestrator.controls(run_id)][-1] == refused_id


@pytest.mark.parametrize(
    ("status", "action", "after"),
    [
        ("running", "pause", "pausing"),
        ("running", "cancel", "cancelled"),
        ("pausing", "resume", "running"),
        ("pausing", "cancel", "cancelled"),
        ("paused", "resume", "running"),
        ("paused", "cancel", "cancelled"),
        ("paused", "rewind", "running"),
        ("failed", "retry", "running"),
        ("failed", "skip", "running"),
        ("failed", "rewind", "running"),
        ("succeeded", "rewind", "running"),
        ("cancelled", "rewind", "running"),
    ],
)
async def test_a_run_takes_the_actions_its_status_allows(
    orchestrator: Orchestrator, status: str, action: str, after: str
) -> None:
    run_id, work = await orchestrator.run_in(status)
    node = {"node_run_id": work} if action in NODE_ACTIONS else {}
    controlled = await orchestrator.control(run_id, action, "allowed", reason="why", **node)
    assert controlled.status == after
    assert controlled == await orchestrator.record(run_id)  # the run as the request left it
    event = (await orchestrator.controls(run_id))[-1]
    assert (event.action, event.status, event.request_id, event.reason) == (
        action,
        after,
        "allowed",
        "why",
    )
    assert event.node_run_id == node.get("node_run_id")
    await orchestrator.assert_rebuilds(run_id)


async def test_node_actions_need_a_node_run_and_an_unknown_run_is_not_found(
    orchestrator: Orchestrator,
) -> None:
    run_id, _ = await orchestrator.run_in("failed")
    for action in NODE_ACTIONS:
        error = await orchestrator.refused(run_id, action, f"{action}-bare")
        assert error.code is ErrorCode.VALIDATION_FAILED
        assert [(d.field, d.reason) for d in error.details] == [("node_run_id", "required")]
    for action in ACTIONS:
        node = {"node_run_id": "nr"} if action in NODE_ACTIONS else {}
        error = await orchestrator.refused("no-such-run", action, f"{action}-missing", **node)
        assert error.code is ErrorCode.NOT_FOUND
        assert [d.field for d in error.details] == ["id"]
    assert await orchestrator.controls(run_id) == []


# -- pause, resume, cancel ---------------------------------------------------------------------


async def test_pause_holds_what_is_activated_until_resume_launches_it(
    orchestrator: Orchestrator,
) -> None:
    run_id = await orchestrator.start(_chain("first", "second"))
    await orchestrator.routed(run_id, "start", "start-first")
    first = await orchestrator.node_run(run_id, "first")
    assert (await orchestrator.control(run_id, "pause", "p")).status == "pausing"  # in flight
    await orchestrator.executed(run_id, first.id, "first", 1, output={"n": 1})
    assert (await orchestrator.record(run_id)).status == "pausing"  # awaits its routing
    await orchestrator.routed(run_id, "first", "first-second")
    assert (await orchestrator.record(run_id)).status == "paused"
    second = await orchestrator.node_run(run_id, "second")
    assert (second.status, second.attempt) == ("queued", 0)  # activated, not dispatched
    assert [e.node.id for e in await orchestrator.executions(run_id)] == ["first"]

    assert (await orchestrator.control(run_id, "resume", "r")).status == "running"
    assert (await orchestrator.node_run(run_id, "second")).status == "dispatched"
    launched = await orchestrator.executions(run_id)
    assert [(e.node.id, e.attempt) for e in launched] == [("first", 1), ("second", 1)]
    pausing, paused, resumed = await orchestrator.controls(run_id)
    assert [(c.action, c.status) for c in (pausing, paused, resumed)] == [
        ("pause", "pausing"),
        ("pause", "paused"),
        ("resume", "running"),
    ]
    # the paused event names the pause request, not the routing decision that settled it
    assert (pausing.request_id, paused.request_id, resumed.request_id) == ("p", "p", "r")
    await orchestrator.assert_rebuilds(run_id)


async def test_cancel_ends_open_node_runs_and_a_late_result_changes_nothing(
    orchestrator: Orchestrator,
) -> None:
    run_id = await orchestrator.start(_fork(limits={"max_parallel_nodes": 1}))
    await orchestrator.routed(run_id, "start", "start-a", "start-b")
    a, b = [await orchestrator.node_run(run_id, n) for n in ("a", "b")]
    assert (a.status, b.status) == ("dispatched", "queued")  # b waits for a slot

    cancelled = await orchestrator.control(run_id, "cancel", "c", reason="enough")
    assert cancelled.status == "cancelled"
    assert {n.node_id: n.status for n in await orchestrator.node_runs(run_id)} == {
        "start": "succeeded",
        "a": "cancelled",
        "b": "cancelled",
    }
    [event] = await orchestrator.controls(run_id)
    assert sorted(event.cancelled_node_run_ids) == sorted([a.id, b.id])
    # the worker running a is told to stop that attempt; b never reached a worker
    assert orchestrator.stops.notices == [
        NodeCancelRequested(run_id=run_id, node_run_ids=[a.id], attempts={a.id: 1})
    ]

    sequence = cancelled.last_sequence
    await orchestrator.executed(run_id, a.id, "a", 1, output={"late": True})
    after = await orchestrator.record(run_id)
    assert (after.status, after.last_sequence) == ("cancelled", sequence)
    assert (await orchestrator.node_run(run_id, "a")).status == "cancelled"
    assert (await orchestrator.node_run(run_id, "a")).output is None
    await orchestrator.assert_rebuilds(run_id)


# -- retry -------------------------------------------------------------------------------------


async def test_retry_reruns_the_failed_node_run_with_its_input_and_requeues_what_was_cut_short(
    orchestrator: Orchestrator,
) -> None:
    run_id, _, a, b, failed = await _failed_fork(orchestrator, "retry")
    assert failed.status == "failed"
    assert failed.error == BOOM
    assert (await orchestrator.node_run(run_id, "b")).status == "cancelled"  # fail-fast

    retried = await orchestrator.control(run_id, "retry", "retry-a", node_run_id=a.id)
    assert (retried.status, retried.error) == ("running", None)
    events = await orchestrator.events(run_id)
    tail = [(e.type, getattr(e.payload, "node_run_id", None)) for e in events[-5:]]
    assert tail == [
        (MessageType.RUN_CONTROLLED, a.id),
        (MessageType.NODE_REQUEUED, b.id),
        (MessageType.NODE_REQUEUED, a.id),
        (MessageType.NODE_DISPATCHED, b.id),
        (MessageType.NODE_DISPATCHED, a.id),
    ]
    launched = {(e.node.id, e.attempt): e for e in await orchestrator.executions(run_id)}
    assert sorted(launched) == [("a", 1), ("a", 2), ("b", 1), ("b", 2)]
    assert launched["a", 2].input_context == a.input_context  # its recorded input
    assert launched["b", 2].input_context == b.input_context
    again = await orchestrator.node_run(run_id, "a")
    assert (again.status, again.attempt, again.error) == ("dispatched", 2, None)

    # reports of the attempts the retry replaced are stale: they change nothing
    sequence = retried.last_sequence
    await orchestrator.executed(run_id, a.id, "a", 1, error=BOOM)
    await orchestrator.executed(run_id, b.id, "b", 1, output={"stale": True})
    assert (await orchestrator.record(run_id)).last_sequence == sequence

    finished = await orchestrator.finish_fork(run_id, a.id, b.id, (2, 2))
    assert (finished.status, finished.error) == ("succeeded", None)
    assert (await orchestrator.node_run(run_id, "a")).attempt == 2
    await orchestrator.assert_rebuilds(run_id)


async def test_a_retried_node_run_gets_a_fresh_retry_budget(orchestrator: Orchestrator) -> None:
    run_id, work = await orchestrator.run_in("failed")
    await orchestrator.control(run_id, "retry", "retry-1", node_run_id=work)
    await orchestrator.executed(run_id, work, "work", 2, error=BOOM)  # its one attempt again
    failed = await orchestrator.record(run_id)
    assert failed.status == "failed"
    [first, second] = [
        e.payload for e in await orchestrator.events(run_id) if e.type == MessageType.RUN_FAILED
    ]
    assert first.failed_node_run_id == second.failed_node_run_id == work
    assert (await orchestrator.control(run_id, "retry", "retry-2", node_run_id=work)).status == (
        "running"
    )
    assert [(e.node.id, e.attempt) for e in await orchestrator.executions(run_id)][-1] == (
        "work",
        3,
    )
    await orchestrator.assert_rebuilds(run_id)


# -- skip --------------------------------------------------------------------------------------


async def test_skipping_the_failed_node_run_routes_on_with_the_given_output(
    orchestrator: Orchestrator,
) -> None:
    run_id, _, a, _, _ = await _failed_fork(orchestrator, "skip")
    skipped = await orchestrator.control(
        run_id, "skip", "skip-a", node_run_id=a.id, output={"memory": "none"}
    )
    assert (skipped.status, skipped.error) == ("running", None)
    a = await orchestrator.node_run(run_id, "a")
    assert (a.status, a.output) == ("skipped", {"memory": "none"})
    b = await orchestrator.node_run(run_id, "b")
    assert (b.status, b.attempt) == ("dispatched", 2)  # cut short by the failure: runs again
    routing = (await orchestrator.routings(run_id))[-1]
    assert (routing.node_run_id, routing.output) == (a.id, {"memory": "none"})
    assert routing.context == a.input_context

    await orchestrator.routed(run_id, "a", "a-end")
    await orchestrator.executed(run_id, b.id, "b", 2, output={"n": "b"})
    await orchestrator.routed(run_id, "b", "b-end")
    end = await orchestrator.node_run(run_id, "end")
    upstream = {u["node_id"]: u["output"] for u in end.input_context["upstream_nodes"]}
    assert upstream == {"a": {"memory": "none"}, "b": {"n": "b"}}
    await orchestrator.routed(run_id, "end", end=True)
    assert (await orchestrator.record(run_id)).status == "succeeded"
    await orchestrator.assert_rebuilds(run_id)


async def test_a_node_run_waiting_to_retry_is_not_skipped_and_the_refusal_says_why(
    orchestrator: Orchestrator,
) -> None:
    """A node run whose failed attempt awaits its retry delay shows ``queued`` but is still in
    flight: the refusal names the retry instead of contradicting itself."""
    chart = _chain("a", defaults={"max_attempts": 2, "retry_backoff_ms": 60_000})
    run_id = await orchestrator.start(chart)
    await orchestrator.routed(run_id, "start", "start-a")
    a = await orchestrator.node_run(run_id, "a")
    await orchestrator.executed(
        run_id, a.id, "a", 1, error=ErrorBody(code=ErrorCode.TIMEOUT, message="slow")
    )
    assert (await orchestrator.node_run(run_id, "a")).status == "queued"
    error = await orchestrator.refused(run_id, "skip", "skip-a", node_run_id=a.id)
    assert _conflict(error, "node_run_id").startswith("only a node run not yet dispatched")
    assert error.message == f"node run {a.id} is waiting to retry (attempt 1 failed)"
    await orchestrator.assert_rebuilds(run_id)


async def test_only_a_queued_node_run_of_an_active_run_can_be_skipped(
    orchestrator: Orchestrator,
) -> None:
    run_id = await orchestrator.start(_fork(limits={"max_parallel_nodes": 1}))
    await orchestrator.routed(run_id, "start", "start-a", "start-b")
    start, a, b = [await orchestrator.node_run(run_id, n) for n in ("start", "a", "b")]
    for busy, status in ((start, "succeeded"), (a, "dispatched")):
        error = await orchestrator.refused(
            run_id, "skip", f"skip-{busy.node_id}", node_run_id=busy.id
        )
        assert _conflict(error, "node_run_id").startswith("only a node run not yet dispatched")
        assert error.message == f"node run {busy.id} is {status}"

    skipped = await orchestrator.control(run_id, "skip", "skip-b", node_run_id=b.id)
    assert skipped.status == "running"  # the run goes on as it was
    b = await orchestrator.node_run(run_id, "b")
    assert (b.status, b.attempt, b.output) == ("skipped", 0, {})  # never dispatched
    [event] = await orchestrator.controls(run_id)
    assert (event.action, event.status, event.node_run_id) == ("skip", "running", b.id)
    assert [e.node.id for e in await orchestrator.executions(run_id)] == ["a"]
    assert (await orchestrator.routings(run_id))[-1].node_run_id == b.id
    await orchestrator.assert_rebuilds(run_id)


async def test_a_queued_node_run_of_a_paused_run_is_skipped_and_the_run_stays_paused(
    orchestrator: Orchestrator,
) -> None:
    run_id, _ = await orchestrator.run_in("paused")
    end = await orchestrator.node_run(run_id, "end")
    assert end.status == "queued"  # held by the pause
    skipped = await orchestrator.control(run_id, "skip", "skip-end", node_run_id=end.id)
    assert skipped.status == "paused"
    assert (await orchestrator.node_run(run_id, "end")).status == "skipped"
    assert [(c.action, c.status) for c in await orchestrator.controls(run_id)][-1] == (
        "skip",
        "paused",
    )
    await orchestrator.assert_rebuilds(run_id)


# -- rewind ------------------------------------------------------------------------------------


async def test_rewind_reruns_from_a_node_run_and_supersedes_what_followed_it(
    orchestrator: Orchestrator,
) -> None:
    run_id, work = await orchestrator.run_in("succeeded")
    before = {n.id: n for n in await orchestrator.node_runs(run_id)}
    history = await orchestrator.events(run_id)
    queued = next(
        e.sequence
        for e in history
        if e.type == MessageType.NODE_QUEUED and e.payload.node_run_id == work
    )

    rewound = await orchestrator.control(run_id, "rewind", "rw", node_run_id=work)
    assert (rewound.status, rewound.outcome) == ("running", None)
    events = await orchestrator.events(run_id)
    assert events[: len(history)] == history  # nothing deleted or rewritten
    [marker] = [e.payload for e in events if e.type == MessageType.RUN_REWOUND]
    assert marker == RunRewound(
        node_run_id=work,
        node_id="work",
        from_sequence=queued,
        to_sequence=len(history),
        request_id="rw",
    )
    assert await orchestrator.superseded(run_id) == list(range(queued, len(history) + 1))
    rows = await orchestrator.node_runs(run_id)
    assert Counter((r.node_id, r.superseded) for r in rows) == Counter(
        {("start", False): 1, ("work", True): 1, ("end", True): 1, ("work", False): 1}
    )
    again = await orchestrator.node_run(run_id, "work")
    assert (again.execution_index, again.status, again.attempt) == (1, "dispatched", 1)
    assert again.input_context["upstream_nodes"] == before[work].input_context["upstream_nodes"]
    assert (await orchestrator.executions(run_id))[-1].node_run_id == again.id

    # the superseded node run cannot be rewound to; neither can another run's node run
    await orchestrator.executed(run_id, again.id, "work", 1, output={"done": 2})
    await orchestrator.routed(run_id, "work", "work-end")
    await orchestrator.routed(run_id, "end", end=True)
    assert (await orchestrator.record(run_id)).status == "succeeded"
    error = await orchestrator.refused(run_id, "rewind", "rw-stale", node_run_id=work)
    assert "superseded" in _conflict(error, "node_run_id")
    other_run, other_work = await orchestrator.run_in("succeeded")
    error = await orchestrator.refused(run_id, "rewind", "rw-other", node_run_id=other_work)
    assert error.code is ErrorCode.NOT_FOUND
    assert [d.field for d in error.details] == ["id"]
    assert await orchestrator.superseded(other_run) == []
    await orchestrator.assert_rebuilds(run_id)


async def test_rewind_of_a_cancelled_run_runs_the_node_again(orchestrator: Orchestrator) -> None:
    run_id, work = await orchestrator.run_in("cancelled")
    rewound = await orchestrator.control(run_id, "rewind", "rw", node_run_id=work)
    assert rewound.status == "running"
    again = await orchestrator.node_run(run_id, "work")
    assert again.id != work
    assert (again.status, again.execution_index) == ("dispatched", 1)
    await orchestrator.executed(run_id, again.id, "work", 1, output={"done": True})
    await orchestrator.routed(run_id, "work", "work-end")
    await orchestrator.routed(run_id, "end", end=True)
    assert (await orchestrator.record(run_id)).status == "succeeded"
    await orchestrator.assert_rebuilds(run_id)


# -- idempotency by request id -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "action"),
    [
        ("running", "pause"),
        ("running", "cancel"),
        ("pausing", "resume"),
        ("failed", "retry"),
        ("failed", "skip"),
        ("succeeded", "rewind"),
    ],
)
async def test_a_repeated_request_returns_the_first_result_and_changes_nothing(
    orchestrator: Orchestrator, status: str, action: str
) -> None:
    run_id, work = await orchestrator.run_in(status)
    node = {"node_run_id": work} if action in NODE_ACTIONS else {}
    first = await orchestrator.control(run_id, action, "once", **node)
    events = await orchestrator.events(run_id)
    launched = await orchestrator.executions(run_id)
    notices = list(orchestrator.stops.notices)

    second = await orchestrator.control(run_id, action, "once", **node)
    assert second == first
    assert await orchestrator.events(run_id) == events
    assert await orchestrator.executions(run_id) == launched
    assert orchestrator.stops.notices == notices
    assert await orchestrator.record(run_id) == first
    await orchestrator.assert_rebuilds(run_id)


async def test_a_repeated_request_answers_the_run_as_the_first_left_it(
    orchestrator: Orchestrator,
) -> None:
    run_id, work = await orchestrator.run_in("running")
    paused = await orchestrator.control(run_id, "pause", "p")
    await orchestrator.executed(run_id, work, "work", 1, output={"done": True})
    await orchestrator.routed(run_id, "work", "work-end")
    assert (await orchestrator.record(run_id)).status == "paused"
    replayed = await orchestrator.control(run_id, "pause", "p")
    assert replayed == paused
    assert replayed.status == "pausing"
    assert (await orchestrator.record(run_id)).status == "paused"
    assert [(c.action, c.status) for c in await orchestrator.controls(run_id)] == [
        ("pause", "pausing"),
        ("pause", "paused"),
    ]


@pytest.mark.parametrize(
    "changed",
    [
        {"action": "cancel"},
        {"reason": "another reason"},
    ],
)
async def test_a_request_id_reused_with_another_request_is_refused(
    orchestrator: Orchestrator, changed: dict[str, Any]
) -> None:
    run_id, _ = await orchestrator.run_in("running")
    first = await orchestrator.control(run_id, "pause", "key", reason="look")
    request = {"action": "pause", "reason": "look", **changed}
    action = request.pop("action")
    error = await orchestrator.refused(run_id, action, "key", **request)
    assert error.code is ErrorCode.IDEMPOTENCY_MISMATCH
    assert [d.field for d in error.details] == ["header.Idempotency-Key"]
    assert await orchestrator.record(run_id) == first
    assert len(await orchestrator.controls(run_id)) == 1


async def test_a_request_id_reused_on_another_run_is_refused(orchestrator: Orchestrator) -> None:
    """Keys are scoped per operation (``run.control``), not per run: another run's path is
    another request (docs/api.md, Idempotency)."""
    run_id, _ = await orchestrator.run_in("running")
    other_id, _ = await orchestrator.run_in("running")
    await orchestrator.control(run_id, "pause", "key")
    other = await orchestrator.record(other_id)
    error = await orchestrator.refused(other_id, "pause", "key")
    assert error.code is ErrorCode.IDEMPOTENCY_MISMATCH
    assert await orchestrator.record(other_id) == other
    assert await orchestrator.controls(other_id) == []


async def test_a_node_request_id_reused_for_another_node_run_is_refused(
    orchestrator: Orchestrator,
) -> None:
    run_id, work = await orchestrator.run_in("succeeded")
    first = await orchestrator.control(run_id, "rewind", "rw", node_run_id=work)
    start = (await orchestrator.node_run(run_id, "start")).id
    error = await orchestrator.refused(run_id, "rewind", "rw", node_run_id=start)
    assert error.code is ErrorCode.IDEMPOTENCY_MISMATCH
    skip = await orchestrator.refused(run_id, "skip", "rw", node_run_id=work, output={"x": 1})
    assert skip.code is ErrorCode.IDEMPOTENCY_MISMATCH
    assert await orchestrator.record(run_id) == first


# -- the bus command form ----------------------------------------------------------------------


async def test_a_command_is_applied_like_a_request_and_one_it_cannot_take_is_a_contract_error(
    orchestrator: Orchestrator,
) -> None:
    run_id, work = await orchestrator.run_in("failed")
    retry = ControlRun(run_id=run_id, action="retry", request_id="cmd-retry", node_run_id=work)
    await orchestrator.control_service.on_command(control_command(retry))
    await orchestrator.control_service.on_command(control_command(retry))  # redelivered
    assert [(c.action, c.request_id) for c in await orchestrator.controls(run_id)] == [
        ("retry", "cmd-retry")
    ]
    assert (await orchestrator.record(run_id)).status == "running"

    retry_again = ControlRun(run_id=run_id, action="retry", request_id="cmd-2", node_run_id=work)
    with pytest.raises(ContractError) as refusal:  # dead-lettered by the consumer
        await orchestrator.control_service.on_command(control_command(retry_again))
    assert _conflict(refusal.value.body, "action") == "not allowed while the run is running"
    start = (await orchestrator.node_run(run_id, "start")).id
    skip = ControlRun(run_id=run_id, action="skip", request_id="cmd-3", node_run_id=start)
    with pytest.raises(ContractError) as refusal:
        await orchestrator.control_service.on_command(control_command(skip))
    assert _conflict(refusal.value.body, "node_run_id").startswith(
        "only a node run not yet dispatched"
    )
    assert len(await orchestrator.controls(run_id)) == 1
    await orchestrator.assert_rebuilds(run_id)
