"""Runtime settings: validation, optimistic concurrency, idempotency."""

from __future__ import annotations

from typing import Any

import pytest

from llmctl_contracts import ErrorCode
from llmctl_contracts.models import RuntimeSettings
from llmctl_libs.rpc import RpcError

from .conftest import ModelsClient


async def refused(models: ModelsClient, body: dict[str, Any]) -> RpcError:
    with pytest.raises(RpcError) as caught:
        await models.call("runtime_settings.update", body, RuntimeSettings)
    return caught.value


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"dispatch": {"k8s_gpu_limit": 9}}, "$.dispatch.k8s_gpu_limit"),
        ({"dispatch": {"k8s_gpu_limit": -1}}, "$.dispatch.k8s_gpu_limit"),
        ({"dispatch": {"dispatch_timeout_seconds": 0}}, "$.dispatch.dispatch_timeout_seconds"),
        ({"dispatch": {"k8s_namespace": "Bad_NS"}}, "$.dispatch.k8s_namespace"),
        (
            {"dispatch": {"k8s_image_pull_secrets": ["ok", "NO!"]}},
            "$.dispatch.k8s_image_pull_secrets[1]",
        ),
        ({"frontier": {"image": "x"}}, "$.frontier.tag"),
        ({"frontier": {"image": "x", "tag": "bad tag"}}, "$.frontier.tag"),
        ({"vllm": {"image": "UPPER", "tag": "1"}}, "$.vllm.image"),
        ({"executors": {}}, "$"),
    ],
)
async def test_bad_runtime_settings_name_the_field(
    models: ModelsClient, change: dict[str, Any], field: str
) -> None:
    error = await refused(models, {"expected_version": 0, **change})
    assert error.body.code is ErrorCode.VALIDATION_FAILED
    assert error.body.details[0].field == field


async def test_versions_and_idempotency(models: ModelsClient) -> None:
    current = await models.call("runtime_settings.get", {}, RuntimeSettings)
    body = {
        "expected_version": current.version,
        "frontier": {"image": "harbor.local/llmctl-executor-frontier", "tag": "2.0.0"},
        "idempotency_key": "rs-1",
    }
    saved = await models.call("runtime_settings.update", body, RuntimeSettings)
    assert saved.version == current.version + 1
    assert saved.updated_at is not None
    stale = await refused(models, {**body, "idempotency_key": None})
    assert stale.body.code is ErrorCode.CONFLICT
    assert stale.body.details[0].field == "$.expected_version"
    mismatch = await refused(models, {**body, "frontier": {"image": "other", "tag": "1"}})
    assert mismatch.body.code is ErrorCode.IDEMPOTENCY_MISMATCH
    unchanged = await models.call(
        "runtime_settings.update",
        {"expected_version": saved.version, "frontier": body["frontier"]},
        RuntimeSettings,
    )
    assert unchanged == saved
