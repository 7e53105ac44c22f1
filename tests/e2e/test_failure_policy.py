"""Failure policy through the public API: retries with backoff, timeouts (the executor's and
the orchestrator's), fail-fast stopping siblings, and node retry / skip / rewind."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING, Any

import nats
from nats.js.api import DeliverPolicy

from llmctl_contracts import encode, subjects
from llmctl_contracts.rpc import ControlRun
from llmctl_infra.test_flowcharts import chain, task
from llmctl_infra.testing import control_command
from llmctl_libs.consumer import dead_letter_subject

if TYPE_CHECKING:
    from conftest import E2EStack


def _at(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["occurred_at"])


def _of(events: list[dict[str, Any]], type_name: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == type_name]


async def test_timed_out_attempt_is_retried_after_its_backoff(e2e_private: E2EStack) -> None:
    """The executor times attempt 1 out; attempt 2 is dispatched no sooner than the backoff."""
    e2e = e2e_private
    flowchart = chain(task("slow", timeout_seconds=2, max_attempts=3, retry_backoff_ms=600))
    e2e.gate.open.clear()
    run = await e2e.start_run(await e2e.create_flowchart(flowchart))
    await e2e.follow(
        run["id"],
        until=lambda f: f["event_type"] == "node.dispatched" and f["data"]["attempt"] == 2,
    )
    e2e.gate.open.set()
    finished = await e2e.wait_terminal(run["id"])
    assert finished["status"] == "succeeded"

    events = await e2e.events(run["id"])
    [scheduled] = _of(events, "node.retry_scheduled")
    payload = scheduled["payload"]
    assert (payload["attempt"], payload["next_attempt"], payload["delay_ms"]) == (1, 2, 600)
    assert payload["error"]["code"] == "timeout"
    second = next(e for e in _of(events, "node.dispatched") if e["payload"]["attempt"] == 2)
    assert (_at(second) - _at(scheduled)).total_seconds() >= 0.6
    [slow] = [n for n in await e2e.node_runs(run["id"]) if n["node_id"] == "slow"]
    assert (slow["status"], slow["attempt"]) == ("succeeded", 2)
    await e2e.assert_rebuilds(run["id"])


async def test_silent_worker_is_timed_out_by_the_orchestrator_then_retried_by_request(
    e2e_private: E2EStack,
) -> None:
    """The executor dies holding the only attempt: the orchestrator fails it after its timeout
    (plus grace) and the run fails; a node retry request then finishes the run."""
    e2e = e2e_private
    flowchart = chain(task("work", timeout_seconds=2))
    e2e.gate.open.clear()
    run = await e2e.start_run(await e2e.create_flowchart(flowchart))
    await asyncio.wait_for(e2e.gate.arrived.wait(), 60)
    e2e.services.kill("executor-frontier")

    failed = await e2e.wait_terminal(run["id"])
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "timeout"
    assert "reported no result" in failed["error"]["message"]
    [work] = [n for n in await e2e.node_runs(run["id"]) if n["node_id"] == "work"]
    assert (work["status"], work["attempt"]) == ("failed", 1)
    await e2e.assert_rebuilds(run["id"])

    e2e.gate.open.set()
    await asyncio.to_thread(e2e.services.start, "executor-frontier")
    response = await e2e.control_node_run(run["id"], work["id"], "retry", key="retry-1")
    assert response.status_code == 200, response.text
    assert response.json()["data"]["status"] == "running"
    again = await e2e.control_node_run(run["id"], work["id"], "retry", key="retry-1")
    assert again.status_code == 200  # same key: nothing changes

    finished = await e2e.wait_terminal(run["id"])
    assert finished["status"] == "succeeded"
    assert finished["error"] is None
    [work] = [n for n in await e2e.node_runs(run["id"]) if n["node_id"] == "work"]
    assert (work["status"], work["attempt"]) == ("succeeded", 2)
    events = await e2e.events(run["id"])
    [retry] = [e for e in _of(events, "run.controlled") if e["payload"]["action"] == "retry"]
    assert retry["payload"]["node_run_id"] == work["id"]
    assert len(_of(events, "node.requeued")) == 1
    await e2e.assert_rebuilds(run["id"])


def _fan_out_with_failing_branch() -> dict[str, Any]:
    """start -> {slow task, rag node (fails: toolhub has no rag tools yet)} -> join (all) -> end."""
    return {
        "name": "fail-fast",
        "nodes": [
            {"type": "start", "id": "start"},
            task("slow"),
            {"type": "rag", "id": "remember"},
            {"type": "end", "id": "end"},
        ],
        "connectors": [
            {"id": "s-slow", "source": "start", "target": "slow"},
            {"id": "s-mem", "source": "start", "target": "remember"},
            {"id": "slow-end", "source": "slow", "target": "end"},
            {"id": "mem-end", "source": "remember", "target": "end"},
        ],
    }


async def test_failure_stops_siblings_and_skip_continues_the_run(e2e: E2EStack) -> None:
    e2e.gate.open.clear()
    try:
        run = await e2e.start_run(await e2e.create_flowchart(_fan_out_with_failing_branch()))
        failed = await e2e.wait_terminal(run["id"])
    finally:
        e2e.gate.open.set()
    assert failed["status"] == "failed"
    by_node = {n["node_id"]: n for n in await e2e.node_runs(run["id"])}
    assert by_node["remember"]["status"] == "failed"
    assert by_node["slow"]["status"] == "cancelled"  # stopped when its sibling failed the run
    [run_failed] = _of(await e2e.events(run["id"]), "run.failed")
    assert run_failed["payload"]["cancelled_node_run_ids"] == [by_node["slow"]["id"]]
    await e2e.assert_rebuilds(run["id"])

    wrong = await e2e.control_node_run(run["id"], by_node["slow"]["id"], "skip")
    assert wrong.status_code == 409
    assert wrong.json()["error"]["details"][0]["field"] == "node_run_id"
    bad = await e2e.control_node_run(run["id"], by_node["remember"]["id"], "retry", output={})
    assert bad.status_code == 422
    assert bad.json()["error"]["details"][0]["field"] == "output"

    skipped = await e2e.control_node_run(
        run["id"], by_node["remember"]["id"], "skip", output={"memory": "none"}
    )
    assert skipped.status_code == 200, skipped.text
    finished = await e2e.wait_terminal(run["id"])
    assert finished["status"] == "succeeded"
    by_node = {n["node_id"]: n for n in await e2e.node_runs(run["id"])}
    assert by_node["remember"]["status"] == "skipped"
    assert by_node["remember"]["output"] == {"memory": "none"}
    assert (by_node["slow"]["status"], by_node["slow"]["attempt"]) == ("succeeded", 2)
    upstream = {
        u["node_id"]: u["output"] for u in by_node["end"]["input_context"]["upstream_nodes"]
    }
    assert upstream["remember"] == {"memory": "none"}
    await e2e.assert_rebuilds(run["id"])


async def test_rewind_reruns_from_a_node_and_marks_superseded_history(e2e: E2EStack) -> None:
    flowchart = chain(task("draft"), task("review"))
    run = await e2e.start_run(await e2e.create_flowchart(flowchart))
    assert (await e2e.wait_terminal(run["id"]))["status"] == "succeeded"
    before = {n["node_id"]: n for n in await e2e.node_runs(run["id"])}
    events_before = await e2e.events(run["id"])
    completions = e2e.llm.stats.completions

    response = await e2e.control_node_run(run["id"], before["review"]["id"], "rewind", key="rw")
    assert response.status_code == 200, response.text
    finished = await e2e.wait_terminal(run["id"])
    assert finished["status"] == "succeeded"
    assert e2e.llm.stats.completions == completions + 1  # only review ran again

    node_runs = await e2e.node_runs(run["id"])
    assert Counter((n["node_id"], n["superseded"]) for n in node_runs) == Counter(
        {
            ("start", False): 1,
            ("draft", False): 1,
            ("review", True): 1,
            ("review", False): 1,
            ("end", True): 1,
            ("end", False): 1,
        }
    )
    [review] = [n for n in node_runs if n["node_id"] == "review" and not n["superseded"]]
    assert review["execution_index"] == 1
    assert (
        review["input_context"]["upstream_nodes"]
        == before["review"]["input_context"]["upstream_nodes"]
    )
    events = await e2e.events(run["id"])
    [rewound] = _of(events, "run.rewound")
    start, end = rewound["payload"]["from_sequence"], rewound["payload"]["to_sequence"]
    assert end == len(events_before)
    queued_review = next(
        e
        for e in events_before
        if e["type"] == "node.queued" and e["payload"]["node_id"] == "review"
    )
    assert start == queued_review["sequence"]
    assert [e["sequence"] for e in events if e["superseded"]] == list(range(start, end + 1))
    assert [e["sequence"] for e in events] == list(range(1, len(events) + 1))
    await e2e.assert_rebuilds(run["id"])

    stale = await e2e.control_node_run(run["id"], before["review"]["id"], "rewind")
    assert stale.status_code == 409  # superseded node runs cannot be rewound to
    assert "superseded" in stale.json()["error"]["details"][0]["reason"]
    missing = await e2e.control_node_run(run["id"], "no-such-node-run", "rewind")
    assert missing.status_code == 404


async def _publish_control(e2e: E2EStack, request: ControlRun) -> None:
    envelope = control_command(request)
    nc = await nats.connect(e2e.services.endpoints.nats_url)
    try:
        await nc.jetstream().publish(subjects.control_command(), encode(envelope))
    finally:
        await nc.close()


async def test_control_as_bus_commands(e2e: E2EStack) -> None:
    """Programs can control runs by publishing ``run.control`` commands; a command the run
    cannot take is dead-lettered with the error the API would give."""
    nc = await nats.connect(e2e.services.endpoints.nats_url)
    dead_letters = await nc.jetstream().subscribe(
        dead_letter_subject("orchestrator"), ordered_consumer=True, deliver_policy=DeliverPolicy.NEW
    )
    e2e.gate.open.clear()
    try:
        run = await e2e.start_run(await e2e.create_flowchart(chain(task("held"))))
        await e2e.follow(run["id"], until=lambda f: f["event_type"] == "node.dispatched")
        await _publish_control(e2e, ControlRun(run_id=run["id"], action="pause", request_id="p1"))
        await e2e.follow(run["id"], until=lambda f: f["event_type"] == "run.controlled")
        assert (await e2e.run(run["id"]))["status"] == "pausing"  # the task is still in flight
        await _publish_control(e2e, ControlRun(run_id=run["id"], action="cancel", request_id="c1"))
        await _publish_control(e2e, ControlRun(run_id=run["id"], action="cancel", request_id="c1"))
        finished = await e2e.wait_terminal(run["id"])
        assert finished["status"] == "cancelled"

        await _publish_control(
            e2e, ControlRun(run_id=run["id"], action="resume", request_id="late")
        )
        letter = json.loads((await dead_letters.next_msg(timeout=30)).data)
        assert letter["error"]["code"] == "conflict"
        assert letter["error"]["details"][0]["field"] == "action"
    finally:
        e2e.gate.open.set()
        await nc.close()
    events = await e2e.events(run["id"])
    actions = [e["payload"]["action"] for e in _of(events, "run.controlled")]
    assert actions == ["pause", "cancel"]  # the repeated cancel changed nothing
    await e2e.assert_rebuilds(run["id"])
