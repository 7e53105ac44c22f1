"""The router's request/reply operations, served on a real NATS through ``endpoint``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest

from llmctl_contracts import ErrorCode
from llmctl_contracts.routing_ops import (
    ConditionValidation,
    NextNodes,
    ResolveNextNodes,
    ValidateConnectorConditions,
)
from llmctl_contracts.rpc import RpcReply
from llmctl_libs.bus import Bus
from llmctl_libs.rpc import RpcError, call
from llmctl_router.app import RESOLVE_NEXT_NODES, VALIDATE_CONDITIONS, register_operations
from llmctl_router.operations import resolve_next_nodes


def connectors(source: str, *ids: str, dotted: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    out = [{"id": c, "source": source, "target": f"t-{c}"} for c in ids]
    out += [{"id": c, "source": source, "target": f"t-{c}", "kind": "dotted"} for c in dotted]
    return out


DECISION = {
    "type": "decision",
    "id": "d",
    "conditions": [
        {"connector_id": "a", "predicate": {"op": "gt", "path": "output.score", "value": 5}},
        {"connector_id": "b", "predicate": {"op": "eq", "path": "output.tag", "value": "x"}},
    ],
    "no_match_policy": "fallback",
    "fallback_connector_id": "c",
}


def resolve_request(node: dict[str, Any], output: dict[str, Any], *ids: str) -> ResolveNextNodes:
    return msgspec.convert(
        {"node": node, "output": output, "outgoing": connectors(node["id"], *ids)},
        ResolveNextNodes,
    )


@pytest.fixture(scope="module")
async def bus(nats_url: str) -> AsyncIterator[Bus]:
    bus = Bus(nats_url, service="router-test")
    register_operations(bus)
    await bus.start()
    try:
        yield bus
    finally:
        await bus.stop()


async def raw(bus: Bus, subject: str, body: bytes) -> RpcReply:
    return msgspec.json.decode(await bus.request(subject, body, timeout=5.0), type=RpcReply)


# --- next_nodes.resolve, in-process -------------------------------------------------------


async def test_resolve_multi_match_targets() -> None:
    reply = await resolve_next_nodes(
        resolve_request(DECISION, {"score": 9, "tag": "x"}, "a", "b", "c")
    )
    assert reply.routing_state.matched_connector_ids == ["a", "b"]
    assert reply.target_node_ids == ["t-a", "t-b"]


async def test_resolve_fallback() -> None:
    reply = await resolve_next_nodes(resolve_request(DECISION, {"score": 1}, "a", "b", "c"))
    assert reply.routing_state.no_match
    assert reply.target_node_ids == ["t-c"]


async def test_resolve_plain_node_ignores_dotted_and_dedupes_targets() -> None:
    request = msgspec.convert(
        {
            "node": {"type": "task", "id": "t", "prompt": "p"},
            "outgoing": [
                {"id": "a", "source": "t", "target": "x"},
                {"id": "b", "source": "t", "target": "x"},
                {"id": "c", "source": "t", "target": "y", "kind": "dotted"},
            ],
        },
        ResolveNextNodes,
    )
    reply = await resolve_next_nodes(request)
    assert reply.routing_state.matched_connector_ids == ["a", "b"]
    assert reply.target_node_ids == ["x"]


async def test_resolve_end_node_terminates() -> None:
    reply = await resolve_next_nodes(resolve_request({"type": "end", "id": "e"}, {}))
    assert reply.routing_state.terminate_run
    assert reply.target_node_ids == []


async def test_resolve_rejects_foreign_connector() -> None:
    request = msgspec.convert(
        {
            "node": {"type": "task", "id": "t", "prompt": "p"},
            "outgoing": [{"id": "a", "source": "other", "target": "x"}],
        },
        ResolveNextNodes,
    )
    with pytest.raises(RpcError) as info:
        await resolve_next_nodes(request)
    assert info.value.body.code is ErrorCode.VALIDATION_FAILED
    assert info.value.body.details[0].field == "$.outgoing[0].source"


# --- over the bus ---------------------------------------------------------------------------


async def test_validate_over_the_bus(bus: Bus) -> None:
    node = {
        **DECISION,
        "conditions": [
            *DECISION["conditions"],
            {"connector_id": "gone", "predicate": {"op": "matches", "path": "o.t", "value": "("}},
        ],
    }
    request = msgspec.convert(
        {"node": node, "outgoing": connectors("d", "a", "b", "c", "new")},
        ValidateConnectorConditions,
    )
    result = await call(bus, VALIDATE_CONDITIONS, request, ConditionValidation)
    assert not result.valid
    assert [e.field for e in result.errors] == [
        "conditions[2].connector_id",
        "conditions[2].predicate.value",
    ]
    assert [c.connector_id for c in result.repaired_conditions] == ["a", "b"]
    assert "connector 'new' has no condition and will never match" in result.warnings
    assert "connector 'c' has no condition; it fires only as the fallback" in result.warnings
    assert any("'gone'" in w for w in result.warnings)


async def test_validate_good_over_the_bus(bus: Bus) -> None:
    request = msgspec.convert(
        {"node": DECISION, "outgoing": connectors("d", "a", "b", "c")},
        ValidateConnectorConditions,
    )
    result = await call(bus, VALIDATE_CONDITIONS, request, ConditionValidation)
    assert result.valid
    assert len(result.repaired_conditions) == 2


async def test_resolve_over_the_bus(bus: Bus) -> None:
    request = resolve_request(DECISION, {"score": 7}, "a", "b", "c")
    result = await call(bus, RESOLVE_NEXT_NODES, request, NextNodes)
    assert result.routing_state.matched_connector_ids == ["a"]
    assert result.target_node_ids == ["t-a"]
    assert [e.connector_id for e in result.routing_state.evaluations] == ["a", "b", "c"]


async def test_routing_failure_becomes_error_reply(bus: Bus) -> None:
    node = {**DECISION, "no_match_policy": "fail", "fallback_connector_id": None}
    request = resolve_request(node, {"score": 1}, "a", "b")
    with pytest.raises(RpcError) as info:
        await call(bus, RESOLVE_NEXT_NODES, request, NextNodes)
    assert info.value.body.code is ErrorCode.CONFLICT
    assert info.value.body.details[0].field == "no_match_policy"


async def test_invalid_predicate_at_runtime_becomes_error_reply(bus: Bus) -> None:
    node = {
        "type": "decision",
        "id": "d",
        "conditions": [{"connector_id": "a", "predicate": {"op": "gt", "path": "output.n"}}],
    }
    request = resolve_request(node, {"n": 3}, "a")
    with pytest.raises(RpcError) as info:
        await call(bus, RESOLVE_NEXT_NODES, request, NextNodes)
    assert info.value.body.code is ErrorCode.VALIDATION_FAILED


@pytest.mark.parametrize("subject", [VALIDATE_CONDITIONS, RESOLVE_NEXT_NODES])
async def test_bad_json_is_malformed(bus: Bus, subject: str) -> None:
    reply = await raw(bus, subject, b"{not json")
    assert not reply.ok
    assert reply.error is not None
    assert reply.error.code is ErrorCode.MALFORMED


@pytest.mark.parametrize(
    ("subject", "body", "field"),
    [
        (VALIDATE_CONDITIONS, {"outgoing": []}, "$.node"),
        (VALIDATE_CONDITIONS, {"node": {"id": "d"}}, "$.outgoing"),
        (
            VALIDATE_CONDITIONS,
            {"node": {"type": "task", "id": "d", "prompt": "p"}, "outgoing": []},
            "$.node.type",
        ),
        (
            VALIDATE_CONDITIONS,
            {
                "node": {"id": "d", "conditions": [{"connector_id": "a", "bogus": 1}]},
                "outgoing": [],
            },
            "$.node.conditions[0]",
        ),
        (
            VALIDATE_CONDITIONS,
            {
                "node": {
                    "id": "d",
                    "conditions": [{"connector_id": "a", "predicate": {"op": "like"}}],
                },
                "outgoing": [],
            },
            "$.node.conditions[0].predicate.op",
        ),
        (RESOLVE_NEXT_NODES, {"node": {"type": "nope", "id": "x"}, "outgoing": []}, "$.node.type"),
        (
            RESOLVE_NEXT_NODES,
            {"node": {"type": "end", "id": "e"}, "outgoing": [{}]},
            "$.outgoing[0].id",
        ),
        (
            RESOLVE_NEXT_NODES,
            {"node": {"type": "end", "id": "e"}, "outgoing": [], "output": []},
            "$.output",
        ),
    ],
)
async def test_schema_invalid_names_the_field(
    bus: Bus, subject: str, body: dict[str, Any], field: str
) -> None:
    reply = await raw(bus, subject, msgspec.json.encode(body))
    assert not reply.ok
    assert reply.error is not None
    assert reply.error.code is ErrorCode.VALIDATION_FAILED
    assert reply.error.details[0].field == field, reply.error
    assert field in reply.error.message
