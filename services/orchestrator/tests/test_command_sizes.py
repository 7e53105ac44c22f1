"""Commands larger than the bus carries, at dispatch: a join whose input context (the outputs of
every branch it joins) is too large for any worker fails at once with ``too_large``, before any
``node.dispatched``, and fails the run; branches whose own commands fit run as usual.

The coordinator runs in-process on real Postgres (conftest's harness; the test plays the router
and the workers). The route side of the same rule is tested end to end in
``tests/e2e/test_large_messages.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmctl_contracts import ErrorCode, MessageType
from llmctl_contracts.events import NodeFailed, RunFailed
from llmctl_infra.test_flowcharts import edges, task
from llmctl_libs.store.outbox import HEADER_ROOM

if TYPE_CHECKING:  # the fixtures' types; conftest is not importable under importlib mode
    from conftest import Orchestrator

LIMIT = 64 * 1024
"""The largest command body the test bus carries."""
BRANCH_OUTPUT = {"text": "x" * (40 * 1024)}
"""Each branch's output: one fits in a command, the two joined do not."""


async def test_a_join_whose_context_is_too_large_to_dispatch_fails_at_once(
    orchestrator: Orchestrator,
) -> None:
    orchestrator.stops.max_payload = LIMIT + HEADER_ROOM
    chart = {
        "name": "join",
        "nodes": [
            {"type": "start", "id": "start"},
            task("a"),
            task("b"),
            task("j", max_attempts=3),
            {"type": "end", "id": "end"},
        ],
        "connectors": edges(
            ("start-a", "start", "a"),
            ("start-b", "start", "b"),
            ("a-j", "a", "j"),
            ("b-j", "b", "j"),
            ("j-end", "j", "end"),
        ),
    }
    run_id = await orchestrator.start(chart)
    await orchestrator.routed(run_id, "start", "start-a", "start-b")
    for node_id in ("a", "b"):
        node_run = await orchestrator.node_run(run_id, node_id)
        await orchestrator.executed(run_id, node_run.id, node_id, 1, output=BRANCH_OUTPUT)
        await orchestrator.routed(run_id, node_id, f"{node_id}-j")

    # the branches' commands went out; the join's never did (it had no room for a retry either)
    assert await orchestrator.launched(run_id) == [("a", 1), ("b", 1)]
    routed = {r.node.id: r.output for r in await orchestrator.routings(run_id)}
    assert routed.keys() == {"start", "a", "b"}
    assert routed["a"] == routed["b"] == BRANCH_OUTPUT
    join = await orchestrator.node_run(run_id, "j")
    assert join.status == "failed"
    assert join.error["code"] == ErrorCode.TOO_LARGE
    assert f"more than the message bus carries ({LIMIT:,} bytes)" in join.error["message"]

    types = [e.type for e in await orchestrator.events(run_id)]
    assert types.count(MessageType.NODE_DISPATCHED) == 2  # a and b only
    assert MessageType.NODE_RETRY_SCHEDULED not in types  # no attempt could ever be sent
    assert types[-2:] == [MessageType.NODE_FAILED, MessageType.RUN_FAILED]
    [failed] = await orchestrator.payloads(run_id, MessageType.NODE_FAILED)
    assert isinstance(failed, NodeFailed)
    assert failed.node_run_id == join.id
    [run_failed] = await orchestrator.payloads(run_id, MessageType.RUN_FAILED)
    assert isinstance(run_failed, RunFailed)
    assert run_failed.error.code == ErrorCode.TOO_LARGE
    record = await orchestrator.record(run_id)
    assert record.status == "failed"
    await orchestrator.assert_rebuilds(run_id)
