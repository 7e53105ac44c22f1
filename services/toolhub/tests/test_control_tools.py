"""Workflow-control tools through the bus: each applies once, a repeated key replays the
recorded result without a second control command, conflicts and bad input are refused."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from llmctl_contracts import ErrorCode, subjects
from llmctl_contracts.rpc import ListNodeRuns, ListRunEvents, NodeRunRecord, RunEventRecord
from llmctl_contracts.tools import ToolCallResult, ToolStatus
from llmctl_libs.ids import new_id
from llmctl_libs.rpc import call
from llmctl_libs.tools import ToolCallError

if TYPE_CHECKING:
    from conftest import ToolhubStack


def ok(result: ToolCallResult) -> dict[str, Any]:
    assert result.status is ToolStatus.SUCCESS, result.error
    assert result.output is not None
    return result.output


def failed(result: ToolCallResult, code: ErrorCode, field: str) -> None:
    assert result.status is ToolStatus.ERROR
    assert result.error is not None
    assert result.error.code is code, result.error
    assert field in [d.field for d in result.error.details], result.error


async def controls(stack: ToolhubStack, run_id: str) -> list[dict[str, Any]]:
    """The run's ``run.controlled`` payloads of control requests, one per request, in order
    (a follow-up, ``pausing`` becoming ``paused``, names the pause request again)."""
    events = await call(
        stack.bus,
        subjects.rpc("orchestrator", "run.events"),
        ListRunEvents(run_id=run_id),
        list[RunEventRecord],
    )
    applied: dict[str, dict[str, Any]] = {}
    for event in events:
        if event.type == "run.controlled" and event.payload["request_id"]:
            applied.setdefault(event.payload["request_id"], event.payload)
    return list(applied.values())


async def failed_node_run(stack: ToolhubStack, run_id: str) -> str:
    node_runs = await call(
        stack.bus,
        subjects.rpc("orchestrator", "run.node_runs"),
        ListNodeRuns(run_id=run_id),
        list[NodeRunRecord],
    )
    return next(n.id for n in node_runs if n.node_id == "t" and n.status == "failed")


async def test_pause_resume_cancel_apply_once_and_replay(stack: ToolhubStack) -> None:
    run = await stack.start_run(stack.chain("control"))
    await stack.wait_status(run.id, "running")
    pause_key, resume_key, cancel_key = (f"{new_id()}:{i}" for i in range(3))
    paused = await stack.call(
        "workflow_pause", {"run_id": run.id, "reason": "look"}, idempotency_key=pause_key
    )
    assert ok(paused)["status"] in ("pausing", "paused")
    resumed = await stack.call("workflow_resume", {"run_id": run.id}, idempotency_key=resume_key)
    assert ok(resumed)["status"] == "running"
    # the pause replayed after the resume: the recorded answer, and the run is not paused again
    replay = await stack.call(
        "workflow_pause", {"run_id": run.id, "reason": "look"}, idempotency_key=pause_key
    )
    assert replay.replayed
    assert replay.output == paused.output
    assert (await stack.run(run.id)).status == "running"
    mismatch = await stack.call(
        "workflow_pause", {"run_id": run.id, "reason": "other"}, idempotency_key=pause_key
    )
    failed(mismatch, ErrorCode.IDEMPOTENCY_MISMATCH, "idempotency_key")
    cancelled = await stack.call("workflow_cancel", {"run_id": run.id}, idempotency_key=cancel_key)
    assert ok(cancelled)["status"] == "cancelled"
    again = await stack.call("workflow_cancel", {"run_id": run.id}, idempotency_key=cancel_key)
    assert (again.replayed, again.output) == (True, cancelled.output)
    replayed_resume = await stack.call(
        "workflow_resume", {"run_id": run.id}, idempotency_key=resume_key
    )
    assert (replayed_resume.replayed, replayed_resume.output) == (True, resumed.output)
    # a new cancel of a cancelled run conflicts; so does resuming it
    failed(await stack.call("workflow_cancel", {"run_id": run.id}), ErrorCode.CONFLICT, "action")
    failed(await stack.call("workflow_resume", {"run_id": run.id}), ErrorCode.CONFLICT, "action")
    applied = await controls(stack, run.id)
    assert [(c["action"], c["request_id"]) for c in applied] == [
        ("pause", f"tool:{pause_key}"),
        ("resume", f"tool:{resume_key}"),
        ("cancel", f"tool:{cancel_key}"),
    ]
    assert applied[0]["reason"] == "look"


async def test_node_retry_applies_once(stack: ToolhubStack) -> None:
    run = await stack.failed_run()
    node_run_id = await failed_node_run(stack, run.id)
    key = new_id()
    retried = await stack.call(
        "node_retry", {"run_id": run.id, "node_run_id": node_run_id}, idempotency_key=key
    )
    assert ok(retried)["status"] == "running"
    replay = await stack.call(
        "node_retry", {"run_id": run.id, "node_run_id": node_run_id}, idempotency_key=key
    )
    assert (replay.replayed, replay.output) == (True, retried.output)
    assert [c["action"] for c in await controls(stack, run.id)] == ["retry"]
    await stack.wait_status(run.id, "failed")  # the retried node times out again


async def test_node_skip_routes_on_and_applies_once(stack: ToolhubStack) -> None:
    run = await stack.failed_run()
    node_run_id = await failed_node_run(stack, run.id)
    key = new_id()
    args = {"run_id": run.id, "node_run_id": node_run_id, "output": {"skipped": True}}
    skipped = ok(await stack.call("node_skip", args, idempotency_key=key))
    assert skipped["status"] in ("running", "succeeded")
    assert (await stack.call("node_skip", args, idempotency_key=key)).replayed
    await stack.wait_status(run.id, "succeeded")  # the skip routed on to the end node
    assert [c["action"] for c in await controls(stack, run.id)] == ["skip"]
    failed(await stack.call("node_skip", args), ErrorCode.CONFLICT, "action")


async def test_node_rewind_applies_once(stack: ToolhubStack) -> None:
    run = await stack.failed_run()
    node_run_id = await failed_node_run(stack, run.id)
    key = new_id()
    args = {"run_id": run.id, "node_run_id": node_run_id, "reason": "again"}
    rewound = ok(await stack.call("node_rewind", args, idempotency_key=key))
    assert rewound["status"] == "running"
    assert (await stack.call("node_rewind", args, idempotency_key=key)).output == rewound
    assert [c["action"] for c in await controls(stack, run.id)] == ["rewind"]
    # a running run cannot be rewound
    failed(await stack.call("node_rewind", args), ErrorCode.CONFLICT, "action")


BAD = [
    ("workflow_pause", {}, ErrorCode.VALIDATION_FAILED, "arguments.run_id"),
    ("workflow_resume", {"run_id": "r", "extra": 1}, ErrorCode.VALIDATION_FAILED, "arguments"),
    ("workflow_cancel", {"run_id": None}, ErrorCode.VALIDATION_FAILED, "arguments.run_id"),
    ("node_retry", {"run_id": "r"}, ErrorCode.VALIDATION_FAILED, "arguments.node_run_id"),
    (
        "node_skip",
        {"run_id": "r", "node_run_id": "n", "output": []},
        ErrorCode.VALIDATION_FAILED,
        "arguments.output",
    ),
    (
        "node_rewind",
        {"run_id": "r", "node_run_id": ""},
        ErrorCode.VALIDATION_FAILED,
        "arguments.node_run_id",
    ),
    ("workflow_pause", {"run_id": "no-such-run"}, ErrorCode.NOT_FOUND, "arguments.run_id"),
    (
        "node_retry",
        {"run_id": "no-such-run", "node_run_id": "n"},
        ErrorCode.NOT_FOUND,
        "arguments.run_id",
    ),
]


@pytest.mark.parametrize(("tool", "arguments", "code", "field"), BAD)
async def test_bad_control_input(
    stack: ToolhubStack, tool: str, arguments: dict[str, Any], code: ErrorCode, field: str
) -> None:
    failed(await stack.call(tool, arguments, idempotency_key=new_id()), code, field)


async def test_unknown_node_run_of_a_real_run(stack: ToolhubStack) -> None:
    run = await stack.failed_run()
    result = await stack.call("node_skip", {"run_id": run.id, "node_run_id": "nope"})
    failed(result, ErrorCode.NOT_FOUND, "arguments.node_run_id")


async def test_allowlist_denies_control_for_a_node_run(stack: ToolhubStack) -> None:
    run = await stack.start_run(stack.chain("allowlist"))
    await stack.wait_status(run.id, "running")
    tools = stack.client.for_node_run(
        node_run_id=new_id(), run_id=run.id, allowed_tools=["run_get"]
    )
    assert (await tools("run_get", {"run_id": run.id}))["status"] == "running"
    with pytest.raises(ToolCallError) as info:
        await tools("workflow_cancel", {"run_id": run.id})
    assert info.value.body.code is ErrorCode.FORBIDDEN
    assert (await stack.run(run.id)).status == "running"
    assert await controls(stack, run.id) == []
    nothing = stack.client.for_node_run(node_run_id=new_id(), run_id=run.id, allowed_tools=[])
    with pytest.raises(ToolCallError) as empty:
        await nothing("run_get", {"run_id": run.id})
    assert empty.value.body.code is ErrorCode.FORBIDDEN
