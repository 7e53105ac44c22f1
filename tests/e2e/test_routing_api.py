"""The router's operations through the gateway (``/api/v1/routing/...``) and the save-time
sync of decision conditions, which applies the same rules: one truth for the inspector and
for the save."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from llmctl_infra.test_flowcharts import edges

if TYPE_CHECKING:
    from conftest import E2EStack


def _eq(connector_id: str, value: str) -> dict[str, Any]:
    return {
        "connector_id": connector_id,
        "predicate": {"op": "eq", "path": "run.input.verdict", "value": value},
    }


def _review(
    *conditions: dict[str, Any], branches: tuple[str, ...] = ("yes", "no")
) -> dict[str, Any]:
    """start -> d (decision) -> one end node per branch connector."""
    return {
        "name": "review",
        "nodes": [
            {"type": "start", "id": "start"},
            {"type": "decision", "id": "d", "conditions": list(conditions)},
            *({"type": "end", "id": f"end-{b}"} for b in branches),
        ],
        "connectors": edges(("sd", "start", "d"), *((b, "d", f"end-{b}") for b in branches)),
    }


def _data(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["ok"] is True
    return body["data"]


def _error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert (body["ok"], body["error"]["code"]) == (False, code), body
    return dict(body["error"])


async def test_deleting_a_branch_drops_its_condition_on_save(e2e: E2EStack) -> None:
    """Deleting a decision's connector takes its condition with it when the flowchart is saved
    (a warning says so), and the router's validation repairs the node the same way."""
    created = _data(
        await e2e.http.post(
            "/api/v1/flowcharts",
            json=_review(
                _eq("yes", "approve"),
                _eq("no", "reject"),
                _eq("maybe", "unsure"),
                branches=("yes", "no", "maybe"),
            ),
        ),
        201,
    )
    assert created["warnings"] == []
    edited = _review(_eq("no", "reject"), _eq("yes", "approve"), _eq("maybe", "unsure"))
    updated = _data(await e2e.http.put(f"/api/v1/flowcharts/{created['id']}", json=edited))
    [decision] = [n for n in updated["definition"]["nodes"] if n["id"] == "d"]
    # the stale condition is gone and the rest follow the connectors' order
    assert [c["connector_id"] for c in decision["conditions"]] == ["yes", "no"]
    assert [
        (w["field"], "'maybe' no longer exists" in w["reason"]) for w in updated["warnings"]
    ] == [("$.nodes[1].conditions[2].connector_id", True)]

    inspector = _data(
        await e2e.http.post(
            "/api/v1/routing/conditions/validate",
            json={
                "node": {"id": "d", "conditions": edited["nodes"][1]["conditions"]},
                "outgoing": [c for c in edited["connectors"] if c["source"] == "d"],
            },
        )
    )
    assert inspector["valid"] is False  # the inspector still shows the stale condition
    assert [e["field"] for e in inspector["errors"]] == ["conditions[2].connector_id"]
    assert inspector["repaired_conditions"] == decision["conditions"]

    run = await e2e.start_run(updated["id"], verdict="reject")
    finished = await e2e.wait_terminal(run["id"])
    assert finished["status"] == "succeeded"
    assert {n["node_id"] for n in await e2e.node_runs(run["id"])} == {"start", "d", "end-no"}
    await e2e.assert_rebuilds(run["id"])


async def test_save_refuses_what_the_router_would_refuse(e2e: E2EStack) -> None:
    """A predicate the router cannot evaluate (a bad regex, an ordering against a list) is
    refused at save with the router's field and reason, not left to fail a run."""
    bad = _review(
        {
            "connector_id": "yes",
            "predicate": {"op": "matches", "path": "run.input.v", "value": "("},
        },
        {"connector_id": "no", "predicate": {"op": "gt", "path": "run.input.n", "value": [1]}},
    )
    err = _error(await e2e.http.post("/api/v1/flowcharts", json=bad), 422, "validation_failed")
    details = {d["field"]: d["reason"] for d in err["details"]}
    assert "invalid regex" in details["$.nodes[1].conditions[0].predicate.value"], details
    assert "number or string" in details["$.nodes[1].conditions[1].predicate.value"], details

    inspector = _data(
        await e2e.http.post(
            "/api/v1/routing/conditions/validate",
            json={
                "node": {"id": "d", "conditions": bad["nodes"][1]["conditions"]},
                "outgoing": [c for c in bad["connectors"] if c["source"] == "d"],
            },
        )
    )
    assert {f"$.nodes[1].{e['field']}": e["reason"] for e in inspector["errors"]} == details

    # conditions of a connector that is dotted, or twice for one connector, cannot be repaired
    dotted = _review(_eq("yes", "a"), _eq("no", "b"))
    dotted["connectors"].append({"id": "peek", "source": "d", "target": "start", "kind": "dotted"})
    dotted["nodes"][1]["conditions"].append(_eq("peek", "c"))
    err = _error(await e2e.http.post("/api/v1/flowcharts", json=dotted), 422, "validation_failed")
    assert [d["field"] for d in err["details"]] == ["$.nodes[1].conditions[2].connector_id"]
    assert "dotted" in err["details"][0]["reason"]


async def test_next_nodes_dry_run(e2e: E2EStack) -> None:
    """Dry-run routing answers what the router would record, and a decision that would fail
    gets the error the run would get; nothing is persisted."""
    node = {"type": "decision", "id": "d", "conditions": [_eq("yes", "ok"), _eq("no", "bad")]}
    outgoing = edges(("yes", "d", "end-yes"), ("no", "d", "end-no"))
    routed = _data(
        await e2e.http.post(
            "/api/v1/routing/next-nodes",
            json={
                "node": node,
                "outgoing": outgoing,
                "context": {"run": {"input": {"verdict": "ok"}}},
            },
        )
    )
    assert routed["target_node_ids"] == ["end-yes"]
    state = routed["routing_state"]
    assert state["matched_connector_ids"] == ["yes"]
    assert [(e["connector_id"], e["matched"], e["method"]) for e in state["evaluations"]] == [
        ("yes", True, "predicate"),
        ("no", False, "predicate"),
    ]

    no_match = _error(
        await e2e.http.post(
            "/api/v1/routing/next-nodes",
            json={"node": node, "outgoing": outgoing, "context": {"run": {"input": {}}}},
        ),
        409,
        "conflict",
    )
    assert no_match["details"][0]["field"] == "no_match_policy"

    unknown = _error(
        await e2e.http.post(
            "/api/v1/routing/next-nodes", json={"node": node, "outgoing": outgoing, "extra": 1}
        ),
        422,
        "validation_failed",
    )
    assert "extra" in unknown["message"] or any("extra" in d["field"] for d in unknown["details"])
