"""Decoding rejects bad documents with an error that names the field."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from llmctl_contracts import (
    ContractError,
    Envelope,
    ErrorCode,
    decode_envelope,
    decode_payload,
    decode_strict,
    encode,
)
from llmctl_contracts.events import NodeExecuted
from llmctl_contracts.flowchart import FlowchartDefinition, TaskNode

HELLO = {
    "name": "x",
    "nodes": [{"type": "start", "id": "s"}, {"type": "task", "id": "t", "prompt": "hi"}],
    "connectors": [{"id": "c1", "source": "s", "target": "t"}],
}


def test_valid_flowchart_decodes_to_typed_nodes() -> None:
    definition = decode_strict(encode(HELLO), FlowchartDefinition, what="flowchart")
    assert isinstance(definition.nodes[1], TaskNode)
    assert definition.nodes[1].schema_retry_attempts == 2


@pytest.mark.parametrize(
    ("document", "field", "code"),
    [
        (
            {**HELLO, "nodes": [{"type": "task", "id": "t"}]},
            "$.nodes[0].prompt",
            "validation_failed",
        ),
        (
            {**HELLO, "nodes": [{"type": "bogus", "id": "t"}]},
            "$.nodes[0].type",
            "validation_failed",
        ),
        (
            {**HELLO, "nodes": [{"type": "start", "id": "has space"}]},
            "$.nodes[0].id",
            "validation_failed",
        ),
        ({**HELLO, "extra": 1}, "$", "validation_failed"),
        ({**HELLO, "nodes": []}, "$.nodes", "validation_failed"),
        (
            {**HELLO, "nodes": [{"type": "start", "id": "s", "fan_in": {"mode": "some"}}]},
            "$.nodes[0].fan_in.mode",
            "validation_failed",
        ),
        (
            {**HELLO, "nodes": [{"type": "task", "id": "t", "prompt": "p", "max_attempts": 0}]},
            "$.nodes[0].max_attempts",
            "validation_failed",
        ),
    ],
)
def test_invalid_flowchart_names_field(document: dict[str, object], field: str, code: str) -> None:
    with pytest.raises(ContractError) as info:
        decode_strict(encode(document), FlowchartDefinition, what="flowchart")
    assert info.value.body.code == code
    assert info.value.body.details[0].field == field


def test_malformed_json_is_malformed() -> None:
    with pytest.raises(ContractError) as info:
        decode_strict(b'{"name": ', FlowchartDefinition, what="flowchart")
    assert info.value.body.code is ErrorCode.MALFORMED


def _envelope(type_name: str, version: int, payload: bytes) -> bytes:
    return encode(
        Envelope(
            event_id="e1",
            type=type_name,
            version=version,
            occurred_at=datetime.now(UTC),
            correlation_id="c",
            idempotency_key="k",
            payload=msgspec.Raw(payload),
        )
    )


def test_unknown_version_is_rejected_loudly() -> None:
    env = decode_envelope(_envelope("node.executed", 99, b"{}"))
    with pytest.raises(ContractError) as info:
        decode_payload(env)
    assert info.value.body.code is ErrorCode.UNKNOWN_VERSION


def test_bad_payload_field_is_prefixed_with_payload() -> None:
    env = decode_envelope(_envelope("node.executed", 1, b'{"node_run_id": 5}'))
    with pytest.raises(ContractError) as info:
        decode_payload(env, NodeExecuted)
    assert info.value.body.details[0].field.startswith("$.payload")


def test_payload_of_wrong_type_for_consumer_is_rejected() -> None:
    env = decode_envelope(_envelope("run.started", 1, b'{"start_node_id": "s"}'))
    with pytest.raises(ContractError) as info:
        decode_payload(env, NodeExecuted)
    assert info.value.body.details[0].field == "$.type"


def test_envelope_missing_fields_rejected() -> None:
    with pytest.raises(ContractError) as info:
        decode_envelope(b'{"event_id": "x"}')
    assert info.value.body.details[0].field.startswith("$.")
