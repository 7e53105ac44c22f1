"""Requests, answers and run data larger than one bus message, through the public API.

The embedded NATS server carries messages of up to 8 MiB (``MAX_PAYLOAD``). A request body
over what may be sent is refused ``too_large`` (413) naming ``body``; a page of events holds
fewer than ``limit`` when they are large, and paging on (REST or the websocket's catch-up)
still yields every event; an answer that cannot fit is refused ``too_large`` at once; a node
whose context and output make its route command too large to
send fails the run with ``too_large`` instead of leaving it running for good.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import websockets

from llmctl_infra.embedded.nats import MAX_PAYLOAD
from llmctl_infra.test_flowcharts import ALWAYS, chain, decision, task

if TYPE_CHECKING:
    from conftest import E2EStack

MIB = 1024 * 1024


def _pass_through() -> dict[str, Any]:
    return chain(decision("d", ("d-end", ALWAYS)))


async def test_request_bodies_over_the_limits_are_refused_too_large(e2e: E2EStack) -> None:
    # over what the bus carries, under what the gateway reads: the backend is never asked
    over_bus = dict(_pass_through(), description="x" * (MAX_PAYLOAD + MIB // 2))
    response = await e2e.http.post("/api/v1/flowcharts", json=over_bus)
    assert response.status_code == 413, response.text
    error = response.json()["error"]
    assert error["code"] == "too_large"
    assert error["details"][0]["field"] == "body"
    assert "a request may be at most" in error["details"][0]["reason"]

    over_gateway = dict(_pass_through(), description="x" * (11 * MIB))
    response = await e2e.http.post("/api/v1/flowcharts", json=over_gateway)
    assert response.status_code == 413, response.text
    error = response.json()["error"]
    assert error["code"] == "too_large"
    assert error["details"][0]["field"] == "body"

    listed = (await e2e.http.get("/api/v1/flowcharts", params={"q": "chain"})).json()["data"]
    assert all(len(item["name"]) < 100 for item in listed["items"])  # nothing half-stored


async def _all_events(e2e: E2EStack, run_id: str) -> tuple[list[dict[str, Any]], list[int]]:
    events: list[dict[str, Any]] = []
    sizes: list[int] = []
    while True:
        after = events[-1]["sequence"] if events else 0
        response = await e2e.http.get(
            f"/api/v1/runs/{run_id}/events", params={"after_sequence": after}
        )
        assert response.status_code == 200, response.text
        page = response.json()["data"]
        if not page:
            return events, sizes
        events += page
        sizes.append(len(page))


async def test_a_run_too_large_to_route_fails_and_its_large_events_page_through(
    e2e: E2EStack,
) -> None:
    """A 2 MiB input: the start node's route command fits; the decision's (its output passes
    the whole upstream payload on, next to its context) does not. The decision fails
    ``too_large`` and so does the run; each of its large events fills a page of its own."""
    flowchart_id = await e2e.create_flowchart(_pass_through())
    run = await e2e.start_run(flowchart_id, blob="y" * (2 * MIB))
    finished = await e2e.wait_terminal(run["id"])
    assert finished["status"] == "failed"
    assert finished["error"]["code"] == "too_large"
    assert "node.route command" in finished["error"]["message"]

    events, pages = await _all_events(e2e, run["id"])
    assert [e["sequence"] for e in events] == list(range(1, len(events) + 1))
    types = [e["type"] for e in events]
    assert types[-2:] == ["node.failed", "run.failed"]
    assert "run.succeeded" not in types
    failed = events[-2]["payload"]
    assert failed["node_id"] == "d"
    assert failed["error"]["code"] == "too_large"
    assert {e["payload"].get("node_id") for e in events} == {None, "start", "d"}  # no `end`
    assert len(pages) > 2  # pages hold fewer than the default limit of 1,000 ...
    assert max(pages) < len(events)  # ... and none holds them all

    # the websocket's catch-up pages the same way (frames of several MiB: no client limit)
    followed: list[int] = []
    async with asyncio.timeout(60), websockets.connect(e2e.ws_url, max_size=None) as ws:
        await ws.send(json.dumps({"type": "subscribe", "run_id": run["id"], "after_sequence": 0}))
        while not followed or followed[-1] < len(events):
            frame = json.loads(await ws.recv())
            assert frame["type"] in ("subscribed", "event"), frame
            if frame["type"] == "event":
                followed.append(frame["sequence"])
    assert followed == [e["sequence"] for e in events]

    # start's node run comes in a page of its own; the decision's is larger than one message
    # alone (its route command was): it comes with its largest fields emptied, and named
    first = await e2e.http.get(f"/api/v1/runs/{run['id']}/node-runs")
    assert first.status_code == 200, first.text
    assert [r["node_id"] for r in first.json()["data"]] == ["start"]  # short of the limit
    assert first.json()["data"][0]["omitted"] == []
    node_runs = await e2e.node_runs(run["id"])
    assert [r["node_id"] for r in node_runs] == ["start", "d"]
    d = node_runs[1]
    assert d["status"] == "failed"
    assert d["omitted"]
    assert set(d["omitted"]) <= {"input_context", "output", "routing_state"}
    assert all(d[field] in ({}, None) for field in d["omitted"])


async def test_node_runs_too_large_together_page_through(e2e: E2EStack) -> None:
    """A 1 MiB input through start -> d -> end: each node run carries 2-6 MiB of context and
    output, too much for one answer together but not alone. The listing pages through them,
    whole."""
    flowchart_id = await e2e.create_flowchart(_pass_through())
    run = await e2e.start_run(flowchart_id, blob="z" * MIB)
    assert (await e2e.wait_terminal(run["id"]))["status"] == "succeeded"
    first = await e2e.http.get(f"/api/v1/runs/{run['id']}/node-runs")
    assert first.status_code == 200, first.text
    node_runs = await e2e.node_runs(run["id"])
    assert [r["node_id"] for r in node_runs] == ["start", "d", "end"]
    assert 0 < len(first.json()["data"]) < len(node_runs)  # a short first page, then more
    for record in node_runs:
        assert "z" * MIB in json.dumps(record["input_context"]), record["node_id"]  # whole


def _join_into_task() -> dict[str, Any]:
    """start -> d1, d2 (pass-through decisions) -> t (a task joining both) -> end."""
    nodes = [
        {"type": "start", "id": "start"},
        decision("d1", ("d1-t", ALWAYS)),
        decision("d2", ("d2-t", ALWAYS)),
        task("t"),
        {"type": "end", "id": "end"},
    ]
    edges = [("start", "d1"), ("start", "d2"), ("d1", "t"), ("d2", "t"), ("t", "end")]
    return {
        "name": "join",
        "nodes": nodes,
        "connectors": [{"id": f"{a}-{b}", "source": a, "target": b} for a, b in edges],
    }


async def test_a_task_report_too_large_for_the_bus_is_cut_down_not_lost(e2e: E2EStack) -> None:
    """A 1.5 MiB input reaches a task through two branches: its prompt (in the worker's
    artifact detail) makes its report larger than one message. The worker reports it without
    the detail, once, instead of failing to publish and re-executing on every redelivery; the
    run then ends ``too_large`` on the task's route command (context and output together), not
    at the node's timeout."""
    flowchart_id = await e2e.create_flowchart(_join_into_task())
    run = await e2e.start_run(flowchart_id, blob="j" * (3 * MIB // 2))
    finished = await e2e.wait_terminal(run["id"], timeout=60)
    assert finished["status"] == "failed"
    assert finished["error"]["code"] == "too_large"
    assert "node.route command" in finished["error"]["message"]
    events, _ = await _all_events(e2e, run["id"])
    t_events = [e["type"] for e in events if e["payload"].get("node_id") == "t"]
    assert t_events == ["node.queued", "node.dispatched", "node.succeeded", "node.failed"]
    artifacts: list[dict[str, Any]] = []
    pages = 0
    while True:  # together they are larger than one answer: the pages come short
        response = await e2e.http.get(
            f"/api/v1/runs/{run['id']}/artifacts", params={"offset": len(artifacts)}
        )
        assert response.status_code == 200, response.text
        if not (page := response.json()["data"]):
            break
        artifacts += page
        pages += 1
    assert sorted(a["node_id"] for a in artifacts) == ["d1", "d2", "start", "t"]
    assert pages > 1
    [artifact] = [a for a in artifacts if a["node_id"] == "t"]
    detail = artifact["content"]["detail"]
    assert detail["detail_omitted"].startswith("left out: the report with it was ")
