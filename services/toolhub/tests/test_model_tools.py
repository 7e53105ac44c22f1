"""Model/provider tools and ``artifact_get`` through the bus, on a running toolhub with the
models service and the orchestrator: good and bad input, idempotent writes, allowlists."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from llmctl_contracts import ErrorCode
from llmctl_contracts.tools import ToolCallResult, ToolStatus

if TYPE_CHECKING:
    from conftest import ToolhubStack


def ok(result: ToolCallResult) -> dict[str, Any]:
    assert result.status is ToolStatus.SUCCESS, result.error
    assert result.output is not None
    return result.output


def failed(result: ToolCallResult, code: ErrorCode, field: str | None = None) -> None:
    assert result.status is ToolStatus.ERROR
    assert result.error is not None
    assert result.error.code is code, result.error
    if field is not None:
        assert field in [d.field for d in result.error.details], result.error


def _vllm_model(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "provider": "vllm",
        "provider_model_id": "qwen2.5-0.5b",
        "settings": {"mode": "remote"},
        "base_url": "http://vllm.internal:8000/v1",
    }


async def test_provider_tools(stack: ToolhubStack) -> None:
    providers = ok(await stack.call("provider_list", {}))["providers"]
    assert {p["name"] for p in providers} == {"openai", "anthropic", "gemini", "vertex", "vllm"}
    vertex = ok(await stack.call("provider_get", {"name": "vertex"}))
    assert "project" in [f["name"] for f in vertex["versions"][-1]["fields"]]
    failed(
        await stack.call("provider_get", {"name": "azure"}),
        ErrorCode.VALIDATION_FAILED,
        "arguments.name",
    )
    failed(await stack.call("provider_list", {"x": 1}), ErrorCode.VALIDATION_FAILED)


async def test_model_writes_apply_once_per_key(stack: ToolhubStack) -> None:
    name = f"tool-{uuid.uuid4().hex[:8]}"
    key = f"key-{uuid.uuid4().hex}"
    created = ok(await stack.call("model_create", _vllm_model(name), idempotency_key=key))
    replay = await stack.call("model_create", _vllm_model(name), idempotency_key=key)
    assert replay.replayed is True
    assert ok(replay)["id"] == created["id"]
    page = ok(await stack.call("model_list", {"q": name}))
    assert [m["name"] for m in page["items"]] == [name]
    other = await stack.call("model_create", _vllm_model(f"{name}-b"), idempotency_key=key)
    failed(other, ErrorCode.IDEMPOTENCY_MISMATCH)

    updated = ok(
        await stack.call(
            "model_update",
            {"id": created["id"], "expected_version": 1, "capability_tags": ["chat"]},
            idempotency_key=f"{key}:update",
        )
    )
    assert (updated["version"], updated["capability_tags"]) == (2, ["chat"])
    stale = await stack.call(
        "model_update", {"id": created["id"], "expected_version": 1, "default_alias": "x"}
    )
    failed(stale, ErrorCode.CONFLICT)
    moved = await stack.call(
        "model_update", {"id": created["id"], "expected_version": 2, "provider": "openai"}
    )
    failed(moved, ErrorCode.VALIDATION_FAILED)

    ok(await stack.call("model_delete", {"id": created["id"]}, idempotency_key=f"{key}:delete"))
    again = await stack.call("model_delete", {"id": created["id"]}, idempotency_key=f"{key}:delete")
    assert again.replayed is True
    failed(await stack.call("model_get", {"id": created["id"]}), ErrorCode.NOT_FOUND)


async def test_model_tools_refuse_bad_input(stack: ToolhubStack) -> None:
    bad = {
        **_vllm_model(f"bad-{uuid.uuid4().hex[:6]}"),
        "settings": {"mode": "remote", "dtype": "int3"},
    }
    failed(await stack.call("model_create", bad), ErrorCode.VALIDATION_FAILED)
    failed(
        await stack.call("model_create", {"name": "x"}),
        ErrorCode.VALIDATION_FAILED,
        "arguments.provider",
    )
    checked = ok(
        await stack.call(
            "model_validate_provider_settings",
            {"provider": "anthropic", "settings": {"thinking_budget_tokens": -5}},
        )
    )
    assert checked["valid"] is False
    assert checked["errors"]
    denied = await stack.call(
        "model_create", _vllm_model("denied"), allowed_tools=["model_get", "model_list"]
    )
    failed(denied, ErrorCode.FORBIDDEN)


async def test_artifact_get_is_run_scoped(stack: ToolhubStack) -> None:
    run = await stack.failed_run()
    trace = ok(await stack.call("failure_trace_get", {"run_id": run.id}))
    [failed_node_run] = trace["failed_node_runs"]
    artifact = ok(
        await stack.call("artifact_get", {"run_id": run.id, "node_run_id": failed_node_run["id"]})
    )
    assert (artifact["kind"], artifact["status"]) == ("task_result", "failed")
    assert artifact["content"]["error"]["code"] == "timeout"
    other = await stack.failed_run()
    failed(
        await stack.call(
            "artifact_get", {"run_id": other.id, "node_run_id": failed_node_run["id"]}
        ),
        ErrorCode.NOT_FOUND,
        "arguments.node_run_id",
    )
    failed(
        await stack.call("artifact_get", {"run_id": run.id, "node_run_id": "nope"}),
        ErrorCode.NOT_FOUND,
        "arguments.node_run_id",
    )
