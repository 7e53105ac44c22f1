"""The sample flowchart end to end through the gateway, the websocket and every service."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the fixture's type; conftest is not importable under importlib mode
    from conftest import E2EStack


async def test_hello_runs_to_succeeded_over_rest_and_websocket(
    e2e: E2EStack, hello: dict[str, Any]
) -> None:
    seen = len(e2e.llm.stats.bodies)
    flowchart_id = await e2e.create_flowchart(hello)
    fetched = (await e2e.http.get(f"/api/v1/flowcharts/{flowchart_id}")).json()["data"]
    assert fetched["definition"]["name"] == "hello"
    run = await e2e.start_run(flowchart_id, user="Ada")
    frames = await e2e.follow(run["id"])

    assert frames[-1]["event_type"] == "run.succeeded"
    assert [f["sequence"] for f in frames] == list(range(1, len(frames) + 1))
    assert all(f["event"].count(":") == 2 and f["event"].startswith("flowchart:") for f in frames)
    completed = [f["data"]["node_id"] for f in frames if f["event"] == "flowchart:node:completed"]
    assert completed == ["start", "classify", "route", "greet", "end"]

    node_runs = {n["node_id"]: n for n in await e2e.node_runs(run["id"])}
    assert set(node_runs) == {"start", "classify", "route", "greet", "end"}
    assert all(n["status"] == "succeeded" and n["execution_index"] == 0 for n in node_runs.values())
    assert node_runs["classify"]["output"]["route_key"] == "greet"
    routing = node_runs["route"]["routing_state"]
    assert routing["matched_connector_ids"] == ["to-greet"]
    assert {e["connector_id"]: e["matched"] for e in routing["evaluations"]} == {
        "to-greet": True,
        "to-decline": False,
    }
    assert node_runs["greet"]["input_context"]["latest_upstream"]["node_id"] == "route"
    assert node_runs["classify"]["input_context"]["run"]["input"] == {"user": "Ada"}

    # the REST timeline is the same stream the websocket relayed
    events = await e2e.events(run["id"])
    assert [e["event_id"] for e in events] == [f["event_id"] for f in frames]
    assert (await e2e.run(run["id"]))["status"] == "succeeded"
    # two task nodes ran, each through the real OpenAI SDK against the demo endpoint
    bodies = e2e.llm.stats.bodies[seen:]
    assert len(bodies) == 2
    assert all(body["response_format"]["type"] == "json_schema" for body in bodies)


async def test_websocket_resume_gets_exactly_the_missed_events(
    e2e: E2EStack, hello: dict[str, Any]
) -> None:
    flowchart_id = await e2e.create_flowchart(hello)
    run = await e2e.start_run(flowchart_id)
    first = await e2e.follow(run["id"], until=lambda f: f["sequence"] == 5)
    rest = await e2e.follow(run["id"], after=first[-1]["sequence"])
    sequences = [f["sequence"] for f in first + rest]
    assert sequences == list(range(1, len(sequences) + 1))
    assert rest[-1]["event_type"] == "run.succeeded"


async def test_same_idempotency_key_returns_the_same_run(
    e2e: E2EStack, hello: dict[str, Any]
) -> None:
    flowchart_id = await e2e.create_flowchart(hello)
    before = e2e.llm.stats.completions
    first = await e2e.start_run(flowchart_id, key="demo-key-1")
    second = await e2e.start_run(flowchart_id, key="demo-key-1")
    other = await e2e.start_run(flowchart_id, key="demo-key-2")
    assert first["id"] == second["id"]
    assert other["id"] != first["id"]
    for run_id in (first["id"], other["id"]):
        assert (await e2e.wait_terminal(run_id))["status"] == "succeeded"
    # two runs, two task nodes each: a duplicate POST executed nothing
    assert e2e.llm.stats.completions - before == 4


async def test_unknown_model_fails_the_node_at_once(e2e: E2EStack, hello: dict[str, Any]) -> None:
    nodes = [dict(n, model="no-such-model") if n["id"] == "classify" else n for n in hello["nodes"]]
    flowchart_id = await e2e.create_flowchart({**hello, "nodes": nodes})
    before = e2e.llm.stats.requests
    run = await e2e.start_run(flowchart_id)
    finished = await e2e.wait_terminal(run["id"])
    assert finished["status"] == "failed"
    assert finished["error"]["code"] == "unavailable"
    assert "no-such-model" in finished["error"]["message"]
    classify = next(n for n in await e2e.node_runs(run["id"]) if n["node_id"] == "classify")
    assert classify["status"] == "failed"
    assert classify["attempt"] == 1  # no retry and no fallback model for an unavailable model
    assert e2e.llm.stats.requests == before


async def test_custom_fan_in_is_clamped_on_save_with_a_warning(
    e2e: E2EStack, hello: dict[str, Any]
) -> None:
    nodes = [
        dict(n, fan_in={"mode": "custom", "count": 4}) if n["id"] == "end" else n
        for n in hello["nodes"]
    ]
    response = await e2e.http.post("/api/v1/flowcharts", json={**hello, "nodes": nodes})
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    end = next(n for n in data["definition"]["nodes"] if n["id"] == "end")
    assert end["fan_in"] == {"mode": "custom", "count": 2}
    assert data["warnings"][0]["field"] == "$.nodes[5].fan_in.count"
    stored = (await e2e.http.get(f"/api/v1/flowcharts/{data['id']}")).json()["data"]
    assert (
        next(n for n in stored["definition"]["nodes"] if n["id"] == "end")["fan_in"]["count"] == 2
    )
