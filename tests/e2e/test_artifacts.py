"""Node-run artifacts through the REST API: one per node run, typed by node kind."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the fixture's type; conftest is not importable under importlib mode
    from conftest import E2EStack


async def test_every_node_run_has_one_typed_final_state_artifact(
    e2e: E2EStack, hello: dict[str, Any]
) -> None:
    flowchart_id = await e2e.create_flowchart(hello)
    run = await e2e.start_run(flowchart_id, user="Ada")
    await e2e.wait_terminal(run["id"])
    await e2e.assert_rebuilds(run["id"])  # includes the one-artifact-per-node-run invariant
    base = f"/api/v1/runs/{run['id']}/artifacts"

    listed = (await e2e.http.get(base)).json()["data"]
    kinds = {a["node_id"]: a["kind"] for a in listed}
    assert kinds == {
        "start": "run_input",
        "classify": "task_result",
        "route": "decision_evaluation",
        "greet": "task_result",
        "end": "run_output",
    }
    by_node = {a["node_id"]: a for a in listed}
    classify = by_node["classify"]["content"]
    # the task's prompt and model are in its artifact, and only there: never in run events
    assert classify["detail"]["schema_attempts"] == 1
    assert classify["detail"]["provider"] == "openai"
    prompt = classify["detail"]["messages"][-1]["content"]
    assert '"user": "Ada"' in prompt
    events = await e2e.events(run["id"])
    assert all("messages" not in str(e["payload"]) for e in events)
    route = by_node["route"]["content"]["routing_state"]
    assert route["matched_connector_ids"] == ["to-greet"]
    assert all(len(a["content_sha256"]) == 64 and a["size_bytes"] > 0 for a in listed)
    assert all(a["correlation_id"] == run["correlation_id"] for a in listed)

    # filters, metadata-only listing and paging
    tasks = (await e2e.http.get(base, params={"kind": "task_result"})).json()["data"]
    assert {a["node_id"] for a in tasks} == {"classify", "greet"}
    bare = (await e2e.http.get(base, params={"include_content": "false"})).json()["data"]
    assert [a["id"] for a in bare] == [a["id"] for a in listed]
    assert all(a["content"] is None for a in bare)
    page = (await e2e.http.get(base, params={"limit": 2, "offset": 3})).json()["data"]
    assert [a["id"] for a in page] == [a["id"] for a in listed[3:5]]
    one = (
        await e2e.http.get(base, params={"node_run_id": by_node["greet"]["node_run_id"]})
    ).json()["data"]
    assert [a["node_id"] for a in one] == ["greet"]

    # one artifact by artifact id or by node run id
    greet = by_node["greet"]
    for key in (greet["id"], greet["node_run_id"]):
        got = await e2e.http.get(f"{base}/{key}")
        assert got.status_code == 200
        assert got.json()["data"] == greet


async def test_artifact_requests_with_bad_input_get_clear_errors(
    e2e: E2EStack, hello: dict[str, Any]
) -> None:
    flowchart_id = await e2e.create_flowchart(hello)
    run = await e2e.start_run(flowchart_id)
    await e2e.wait_terminal(run["id"])
    other = await e2e.start_run(flowchart_id)
    await e2e.wait_terminal(other["id"])
    base = f"/api/v1/runs/{run['id']}/artifacts"

    missing_run = await e2e.http.get("/api/v1/runs/no-such-run/artifacts")
    assert missing_run.status_code == 404
    assert missing_run.json()["error"]["code"] == "not_found"

    bad_kind = await e2e.http.get(base, params={"kind": "poem"})
    assert bad_kind.status_code == 422
    assert "kind" in bad_kind.json()["error"]["details"][0]["field"]
    for params in ({"limit": 0}, {"limit": 1001}, {"offset": -1}):
        bad = await e2e.http.get(base, params=params)
        assert bad.status_code == 422, params
        assert next(iter(params)) in bad.json()["error"]["details"][0]["field"]

    unknown = await e2e.http.get(f"{base}/art_nothing")
    assert unknown.status_code == 404
    # another run's artifact is not reachable under this run
    theirs = (await e2e.http.get(f"/api/v1/runs/{other['id']}/artifacts")).json()["data"][0]
    crossed = await e2e.http.get(f"{base}/{theirs['id']}")
    assert crossed.status_code == 404
    assert crossed.json()["error"]["details"][0]["field"] == "path.artifact_id"
