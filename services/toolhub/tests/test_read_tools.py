"""Toolhub's read tools (connector/branch, contract validation, observability) through the bus
against a running toolhub, orchestrator and router: good input and bad input for each."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from llmctl_contracts import ErrorCode
from llmctl_contracts.tools import ToolCallResult, ToolStatus
from llmctl_infra.testing import async_wait_until

if TYPE_CHECKING:
    from conftest import ToolhubStack

DECISION = {
    "type": "decision",
    "id": "d",
    "conditions": [
        {"connector_id": "ca", "predicate": {"op": "gt", "path": "output.score", "value": 5}},
        {"connector_id": "cb", "predicate": {"op": "eq", "path": "output.tag", "value": "x"}},
    ],
    "no_match_policy": "fallback",
    "fallback_connector_id": "cc",
}
OUTGOING = [
    {"id": "ca", "source": "d", "target": "a"},
    {"id": "cb", "source": "d", "target": "b"},
    {"id": "cc", "source": "d", "target": "c"},
]
DECISION_FLOWCHART = {
    "name": "branches",
    "nodes": [
        {"type": "start", "id": "s"},
        DECISION,
        *({"type": "task", "id": n, "prompt": "p"} for n in ("a", "b", "c")),
    ],
    "connectors": [{"id": "c0", "source": "s", "target": "d"}, *OUTGOING],
}


def ok(result: ToolCallResult) -> dict[str, Any]:
    assert result.status is not ToolStatus.ERROR, result.error
    assert result.output is not None
    return result.output


def failed(result: ToolCallResult, code: ErrorCode, field: str) -> None:
    assert result.status is ToolStatus.ERROR
    assert result.error is not None
    assert result.error.code is code, result.error
    assert field in [d.field for d in result.error.details], result.error


# --- bad input, one or more per tool ---------------------------------------------------------

BAD_INPUT = [
    ("branch_evaluate", {"node": DECISION}, "arguments.outgoing"),
    (
        "branch_evaluate",
        {"node": {**DECISION, "conditions": "x"}, "outgoing": []},
        "arguments.node.conditions",
    ),
    ("connector_conditions_get", {"run_id": "r"}, "arguments.node_id"),
    ("connector_conditions_validate", {"outgoing": []}, "arguments.node"),
    (
        "next_nodes_resolve",
        {"node": {"type": "nope", "id": "x"}, "outgoing": []},
        "arguments.node.type",
    ),
    ("node_output_validate", {"output": {}}, "arguments.output_schema"),
    ("connector_condition_payload_validate", {"conditions": {}}, "arguments.conditions"),
    ("write_payload_validate", {"tool": "workflow_pause"}, "arguments.arguments"),
    ("run_get", {}, "arguments.run_id"),
    ("run_get", {"run_id": ""}, "arguments.run_id"),
    ("node_run_get", {"run_id": "r"}, "arguments.node_run_id"),
    ("logs_get", {"run_id": "r", "limit": 201}, "arguments.limit"),
    ("tool_calls_get", {"run_id": "r", "status": "weird"}, "arguments.status"),
    ("tool_calls_summary", {"tool": "run_get"}, "arguments.since"),
    ("failure_trace_get", {"run_id": 7}, "arguments.run_id"),
]


@pytest.mark.parametrize(("tool", "arguments", "field"), BAD_INPUT)
async def test_schema_violations_are_refused_naming_the_field(
    stack: ToolhubStack, tool: str, arguments: dict[str, Any], field: str
) -> None:
    result = await stack.call(tool, arguments, request_id="bad-1")
    failed(result, ErrorCode.VALIDATION_FAILED, field)
    assert result.attempts == 0
    assert result.error is not None
    assert result.error.request_id == "bad-1"


MISSING_IDS = [
    ("run_get", {"run_id": "no-such-run"}, "arguments.run_id"),
    ("failure_trace_get", {"run_id": "no-such-run"}, "arguments.run_id"),
    ("logs_get", {"run_id": "no-such-run"}, "arguments.run_id"),
    ("connector_conditions_get", {"run_id": "no-such-run", "node_id": "s"}, "arguments.run_id"),
]


@pytest.mark.parametrize(("tool", "arguments", "field"), MISSING_IDS)
async def test_missing_ids_are_not_found(
    stack: ToolhubStack, tool: str, arguments: dict[str, Any], field: str
) -> None:
    failed(await stack.call(tool, arguments), ErrorCode.NOT_FOUND, field)


# --- connector / branch ------------------------------------------------------------------------


async def test_branch_evaluate_matches_and_falls_back(stack: ToolhubStack) -> None:
    both = ok(
        await stack.call(
            "branch_evaluate",
            {"node": DECISION, "outgoing": OUTGOING, "output": {"score": 9, "tag": "x"}},
        )
    )
    assert both["routing_state"]["matched_connector_ids"] == ["ca", "cb"]
    assert both["target_node_ids"] == ["a", "b"]
    none = ok(
        await stack.call(
            "branch_evaluate", {"node": DECISION, "outgoing": OUTGOING, "output": {"score": 1}}
        )
    )
    assert none["routing_state"]["no_match"]
    assert none["target_node_ids"] == ["c"]


async def test_branch_evaluate_free_text_condition_uses_the_fallback_contract(
    stack: ToolhubStack,
) -> None:
    node = {**DECISION, "conditions": [{"connector_id": "ca", "text": "score is high"}]}
    result = await stack.call(
        "branch_evaluate", {"node": node, "outgoing": OUTGOING, "output": {"score": "high"}}
    )
    assert result.status is ToolStatus.SUCCESS_WITH_WARNING
    assert result.fallback_used
    assert result.warnings


async def test_branch_evaluate_foreign_connector_is_refused_by_the_router(
    stack: ToolhubStack,
) -> None:
    outgoing = [{"id": "ca", "source": "elsewhere", "target": "a"}]
    result = await stack.call("branch_evaluate", {"node": DECISION, "outgoing": outgoing})
    failed(result, ErrorCode.VALIDATION_FAILED, "$.outgoing[0].source")


async def test_next_nodes_resolve_plain_node(stack: ToolhubStack) -> None:
    out = ok(
        await stack.call(
            "next_nodes_resolve",
            {
                "node": {"type": "task", "id": "t", "prompt": "p"},
                "outgoing": [
                    {"id": "x", "source": "t", "target": "n1"},
                    {"id": "y", "source": "t", "target": "n2", "kind": "dotted"},
                ],
            },
        )
    )
    assert out["target_node_ids"] == ["n1"]


async def test_connector_conditions_validate(stack: ToolhubStack) -> None:
    good = ok(
        await stack.call("connector_conditions_validate", {"node": DECISION, "outgoing": OUTGOING})
    )
    assert good["valid"]
    node = {
        **DECISION,
        "conditions": [
            *DECISION["conditions"],
            {"connector_id": "gone", "predicate": {"op": "eq", "path": "output.a", "value": 1}},
        ],
    }
    bad = ok(
        await stack.call("connector_conditions_validate", {"node": node, "outgoing": OUTGOING})
    )
    assert not bad["valid"]
    assert [e["field"] for e in bad["errors"]] == ["conditions[2].connector_id"]
    assert [c["connector_id"] for c in bad["repaired_conditions"]] == ["ca", "cb"]


async def test_connector_conditions_get(stack: ToolhubStack) -> None:
    run = await stack.start_run(DECISION_FLOWCHART)
    out = ok(await stack.call("connector_conditions_get", {"run_id": run.id, "node_id": "d"}))
    assert out["node_type"] == "decision"
    assert [c["connector_id"] for c in out["conditions"]] == ["ca", "cb"]
    assert out["fallback_connector_id"] == "cc"
    assert [c["id"] for c in out["outgoing"]] == ["ca", "cb", "cc"]
    start = ok(await stack.call("connector_conditions_get", {"run_id": run.id, "node_id": "s"}))
    assert (start["node_type"], start["conditions"], [c["id"] for c in start["outgoing"]]) == (
        "start",
        [],
        ["c0"],
    )
    failed(
        await stack.call("connector_conditions_get", {"run_id": run.id, "node_id": "zz"}),
        ErrorCode.NOT_FOUND,
        "arguments.node_id",
    )


# --- contract validation -------------------------------------------------------------------------

SCHEMA = {
    "type": "object",
    "properties": {
        "score": {"type": "integer"},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["score"],
}


async def test_node_output_validate(stack: ToolhubStack) -> None:
    good = ok(
        await stack.call("node_output_validate", {"output": {"score": 1}, "output_schema": SCHEMA})
    )
    assert good == {"valid": True, "errors": []}
    bad = ok(
        await stack.call(
            "node_output_validate", {"output": {"tags": ["a", 2]}, "output_schema": SCHEMA}
        )
    )
    assert not bad["valid"]
    assert [e["field"] for e in bad["errors"]] == ["$", "$.tags[1]"]
    assert "'score' is a required property" in bad["errors"][0]["reason"]
    broken = await stack.call(
        "node_output_validate", {"output": {}, "output_schema": {"type": "nonsense"}}
    )
    failed(broken, ErrorCode.VALIDATION_FAILED, "arguments.output_schema.type")


async def test_connector_condition_payload_validate(stack: ToolhubStack) -> None:
    good = ok(
        await stack.call(
            "connector_condition_payload_validate", {"conditions": DECISION["conditions"]}
        )
    )
    assert good["valid"]
    assert len(good["conditions"]) == 2
    bad = ok(
        await stack.call(
            "connector_condition_payload_validate",
            {
                "conditions": [
                    {"connector_id": "a", "predicate": {"op": "between", "path": "x", "value": 1}},
                    {"connector_id": "b", "text": "fine"},
                    {"connector_id": "b", "text": "duplicate"},
                    "not an object",
                ]
            },
        )
    )
    assert not bad["valid"]
    assert bad["conditions"] == []
    fields = [e["field"] for e in bad["errors"]]
    assert fields[0].startswith("$.conditions[0].predicate")
    assert "$.conditions[3]" in fields
    assert "$.conditions[1].connector_id" not in fields  # the first use of "b" is fine
    assert "$.conditions[2].connector_id" in fields
    assert any(
        e["reason"] == "another condition already targets this connector" for e in bad["errors"]
    )


async def test_write_payload_validate(stack: ToolhubStack) -> None:
    good = ok(
        await stack.call(
            "write_payload_validate",
            {"tool": "node_skip", "arguments": {"run_id": "r", "node_run_id": "n"}},
        )
    )
    assert good == {"tool": "node_skip", "version": 1, "valid": True, "errors": []}
    bad = ok(
        await stack.call(
            "write_payload_validate", {"tool": "node_skip", "arguments": {"run_id": "r"}}
        )
    )
    assert not bad["valid"]
    assert bad["errors"] == [{"field": "$.node_run_id", "reason": "required field is missing"}]
    failed(
        await stack.call("write_payload_validate", {"tool": "nope", "arguments": {}}),
        ErrorCode.NOT_FOUND,
        "arguments.tool",
    )
    failed(
        await stack.call("write_payload_validate", {"tool": "run_get", "arguments": {}}),
        ErrorCode.VALIDATION_FAILED,
        "arguments.tool",
    )


# --- observability ---------------------------------------------------------------------------------


async def test_run_node_run_logs_and_tool_calls(stack: ToolhubStack) -> None:
    run = await stack.start_run(stack.chain("observed"))
    got = ok(await stack.call("run_get", {"run_id": run.id}, run_id=run.id, request_id="obs-1"))
    assert (got["id"], got["flowchart_id"]) == (run.id, run.flowchart_id)
    queued: list[str] = []

    async def task_queued() -> bool:  # the start node runs and routes first
        events = ok(await stack.call("logs_get", {"run_id": run.id}))["events"]
        queued[:] = [
            e["node_run_id"]
            for e in events
            if e["type"] == "node.queued" and e["payload"]["node_id"] == "t"
        ]
        return bool(queued)

    await async_wait_until(task_queued, timeout=30, what="task node queued")
    task_run_id = queued[0]
    node_run = ok(
        await stack.call(
            "node_run_get",
            {"run_id": run.id, "node_run_id": task_run_id},
            run_id=run.id,
            node_run_id=task_run_id,
        )
    )
    assert (node_run["node_id"], node_run["run_id"]) == ("t", run.id)
    failed(
        await stack.call("node_run_get", {"run_id": run.id, "node_run_id": "nope"}),
        ErrorCode.NOT_FOUND,
        "arguments.node_run_id",
    )
    logs = ok(await stack.call("logs_get", {"run_id": run.id, "node_run_id": task_run_id}))
    assert logs["events"]
    assert {e["node_run_id"] for e in logs["events"]} == {task_run_id}
    assert [c["tool"] for c in logs["tool_calls"]] == ["node_run_get"]  # the call made for it
    page = ok(await stack.call("logs_get", {"run_id": run.id, "limit": 1}))
    assert len(page["events"]) == 1
    assert page["next_after_sequence"] == page["events"][0]["sequence"]
    calls = ok(await stack.call("tool_calls_get", {"run_id": run.id}))["tool_calls"]
    assert [c["tool"] for c in calls] == ["run_get", "node_run_get"]
    assert calls[0]["request_id"] == "obs-1"
    only = ok(
        await stack.call(
            "tool_calls_get", {"run_id": run.id, "tool": "run_get", "status": "success"}
        )
    )
    assert [c["tool"] for c in only["tool_calls"]] == ["run_get"]


async def test_failure_trace(stack: ToolhubStack) -> None:
    run = await stack.failed_run()
    trace = ok(await stack.call("failure_trace_get", {"run_id": run.id}))
    assert trace["run_status"] == "failed"
    assert trace["run_error"]["code"] == "timeout"
    assert [n["node_id"] for n in trace["failed_node_runs"]] == ["t"]
    assert {e["type"] for e in trace["failure_events"]} == {"node.failed", "run.failed"}


async def test_tool_calls_summary_needs_a_filter_and_a_recent_window(stack: ToolhubStack) -> None:
    now = datetime.now(UTC)
    await stack.call("run_get", {"run_id": "summary-miss"}, run_id="summary-miss")
    summary = ok(
        await stack.call(
            "tool_calls_summary",
            {"since": (now - timedelta(minutes=5)).isoformat(), "tool": "run_get"},
        )
    )
    groups = {(g["tool"], g["status"]): g for g in summary["groups"]}
    assert groups[("run_get", "error")]["calls"] >= 1
    assert all(tool == "run_get" for tool, _ in groups)
    failed(
        await stack.call("tool_calls_summary", {"since": now.isoformat()}),
        ErrorCode.VALIDATION_FAILED,
        "arguments.tool",
    )
    failed(
        await stack.call(
            "tool_calls_summary",
            {"since": (now - timedelta(days=8)).isoformat(), "status": "error"},
        ),
        ErrorCode.VALIDATION_FAILED,
        "arguments.since",
    )
    failed(
        await stack.call(
            "tool_calls_summary", {"since": now.isoformat(), "tool": "run_get", "limit": 51}
        ),
        ErrorCode.VALIDATION_FAILED,
        "arguments.limit",
    )


async def test_registry_listing_over_the_bus(stack: ToolhubStack) -> None:
    names = {t.name for t in await stack.client.list_tools()}
    assert names >= {
        "branch_evaluate",
        "connector_conditions_get",
        "connector_conditions_validate",
        "next_nodes_resolve",
        "node_output_validate",
        "connector_condition_payload_validate",
        "write_payload_validate",
        "run_get",
        "node_run_get",
        "logs_get",
        "tool_calls_get",
        "failure_trace_get",
        "workflow_pause",
        "workflow_resume",
        "workflow_cancel",
        "node_retry",
        "node_skip",
        "node_rewind",
    }
    control = await stack.client.list_tools(domain="workflow_control")
    assert [t.name for t in control] == [
        "node_retry",
        "node_rewind",
        "node_skip",
        "workflow_cancel",
        "workflow_pause",
        "workflow_resume",
    ]
    assert all(t.writes for t in control)


async def test_delegating_tool_retries_then_reports_unavailable(stack: ToolhubStack) -> None:
    """Runs last in this module: it stops the router for a while."""
    request = {"node": DECISION, "outgoing": OUTGOING, "output": {"score": 9}}
    key = "router-down-1"
    stack.services.stop("router")
    try:
        down = await stack.call("branch_evaluate", request, idempotency_key=key)
        assert down.status is ToolStatus.ERROR
        assert down.error is not None
        assert down.error.code is ErrorCode.UNAVAILABLE
        assert down.attempts == 2  # the tool's max_attempts
    finally:
        await asyncio.to_thread(stack.services.start, "router")
    # an unavailable outcome is not recorded: the same key runs again once the router is back
    back = await stack.call("branch_evaluate", request, idempotency_key=key)
    assert (back.status, back.replayed) == (ToolStatus.SUCCESS, False)
    assert ok(back)["target_node_ids"] == ["a"]
