"""Save-time validation through the gateway against the real orchestrator: each graph rule a
flowchart can break is refused 422 naming the field (and reported alike, unsaved, by
``/flowcharts/validate``); the run guard's hard cap of 10,000 executions is part of the schema."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx
import pytest

from llmctl_libs.ids import new_id

if TYPE_CHECKING:  # the fixture's type; conftest is not importable under importlib mode
    from conftest import ApiStack

pytestmark = pytest.mark.timeout(180)

START = {"type": "start", "id": "start"}
END = {"type": "end", "id": "end"}
ALWAYS = {"op": "exists", "path": "run.id"}


def task(node_id: str) -> dict[str, Any]:
    return {"type": "task", "id": node_id, "prompt": f"do {node_id}"}


def edge(cid: str, source: str, target: str, kind: str = "solid") -> dict[str, str]:
    return {"id": cid, "source": source, "target": target, "kind": kind}


def chart(
    nodes: list[dict[str, Any]], connectors: list[dict[str, str]], **extra: Any
) -> dict[str, Any]:
    return {"name": f"invalid-{new_id()}", "nodes": nodes, "connectors": connectors, **extra}


def refused(response: httpx.Response) -> list[dict[str, Any]]:
    """The details of a 422 ``validation_failed`` error envelope."""
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["ok"] is False
    assert body["error"]["code"] == "validation_failed", body
    assert body["error"]["request_id"] == response.headers["x-request-id"]
    details: list[dict[str, Any]] = body["error"]["details"]
    return details


CASES = [
    pytest.param(
        chart([START, END, task("t")], [edge("se", "start", "end"), edge("et", "end", "t")]),
        "$.connectors[1].source",
        "end node has no outgoing",
        id="end-node-with-outgoing-connector",
    ),
    pytest.param(
        chart(
            [START, {"type": "decision", "id": "d"}, task("t")],
            [edge("sd", "start", "d"), edge("st", "start", "t"), edge("dt", "d", "t", "dotted")],
        ),
        "$.nodes[1]",
        "at least one solid outgoing connector",
        id="decision-with-only-a-dotted-connector",
    ),
    pytest.param(
        chart([START, task("a"), END], [edge("c1", "start", "a"), edge("c1", "a", "end")]),
        "$.connectors[1].id",
        "duplicate connector id 'c1'",
        id="duplicate-connector-ids",
    ),
    pytest.param(
        chart(
            [START, task("t")],
            [edge("st", "start", "t"), edge("st-context", "start", "t", "dotted")],
        ),
        "$.connectors[1].kind",
        "cannot mix kinds",
        id="solid-and-dotted-between-one-pair",
    ),
    pytest.param(
        chart([START, END, task("lost")], [edge("se", "start", "end")]),
        "$.nodes[2]",
        "'lost' is unreachable from start",
        id="unreachable-node",
    ),
    pytest.param(
        chart(
            [START, {**task("t"), "fan_in": {"mode": "custom", "count": 0}}],
            [edge("st", "start", "t")],
        ),
        "$.nodes[1].fan_in.count",
        ">= 1",
        id="custom-fan-in-count-zero",
    ),
    pytest.param(
        chart([START, {**task("t"), "fan_in": {"mode": "custom"}}], [edge("st", "start", "t")]),
        "$.nodes[1].fan_in.count",
        "custom fan-in needs a count",
        id="custom-fan-in-without-count",
    ),
    pytest.param(
        chart(
            [START, {"type": "start", "id": "start2"}, END],
            [edge("se", "start", "end"), edge("s2e", "start2", "end")],
        ),
        "$.nodes",
        "exactly one start node required, found 2",
        id="two-start-nodes",
    ),
    pytest.param(
        chart(
            [
                START,
                {
                    "type": "decision",
                    "id": "d",
                    "conditions": [{"connector_id": "to-a", "predicate": ALWAYS}],
                    "no_match_policy": "fallback",
                    "fallback_connector_id": "sb",
                },
                task("a"),
                task("b"),
            ],
            [edge("sd", "start", "d"), edge("sb", "start", "b"), edge("to-a", "d", "a")],
        ),
        "$.nodes[1].fallback_connector_id",
        "one of this decision's solid outgoing connectors",
        id="fallback-connector-of-another-node",
    ),
    pytest.param(
        chart([START, END], [edge("se", "start", "end")], limits={"max_node_executions": 10_001}),
        "$.limits.max_node_executions",
        "<= 10000",
        id="max-node-executions-over-the-hard-cap",
    ),
]


@pytest.mark.parametrize(("document", "field", "reason"), CASES)
async def test_invalid_flowchart_is_refused_naming_the_field(
    api_stack: ApiStack, document: dict[str, Any], field: str, reason: str
) -> None:
    api = api_stack
    details = refused(await api.http.post("/api/v1/flowcharts", json=document))
    assert any(d["field"] == field and reason in d["reason"] for d in details), details

    # the dry run reports the same errors, and neither request saved anything
    checked = await api.http.post("/api/v1/flowcharts/validate", json=document)
    assert checked.status_code == 200, checked.text
    verdict = checked.json()["data"]
    assert (verdict["valid"], verdict["errors"]) == (False, details)
    listed = await api.http.get("/api/v1/flowcharts", params={"q": document["name"]})
    assert listed.json()["data"]["total"] == 0


async def test_max_node_executions_of_exactly_the_hard_cap_is_saved(api_stack: ApiStack) -> None:
    document = chart(
        [START, END], [edge("se", "start", "end")], limits={"max_node_executions": 10_000}
    )
    response = await api_stack.http.post("/api/v1/flowcharts", json=document)
    assert response.status_code == 201, response.text
    saved = response.json()["data"]
    assert saved["definition"]["limits"]["max_node_executions"] == 10_000
    fetched = (await api_stack.http.get(f"/api/v1/flowcharts/{saved['id']}")).json()["data"]
    assert fetched["definition"]["limits"]["max_node_executions"] == 10_000
