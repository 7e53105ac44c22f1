"""Pause, resume and cancel a run through the gateway against the real orchestrator."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import httpx
import nats

from llmctl_contracts import subjects

if TYPE_CHECKING:  # the fixture's type; conftest is not importable under importlib mode
    from conftest import E2EStack


async def control(
    e2e: E2EStack, run_id: str, action: str, key: str | None = None, reason: str | None = None
) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    body = {"reason": reason} if reason is not None else None
    return await e2e.http.post(f"/api/v1/runs/{run_id}/{action}", json=body, headers=headers)


def controlled(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    envelope = response.json()
    assert envelope["ok"] is True
    assert envelope["correlation_id"] == response.headers["x-correlation-id"]
    return dict(envelope["data"])


def conflict(response: httpx.Response) -> None:
    assert response.status_code == 409, response.text
    assert response.json()["error"]["code"] == "conflict"


async def by_node(e2e: E2EStack, run_id: str) -> dict[str, dict[str, Any]]:
    node_runs = await e2e.node_runs(run_id)
    counts = Counter(n["node_id"] for n in node_runs)
    assert set(counts.values()) <= {1}, counts
    return {n["node_id"]: n for n in node_runs}


async def control_events(e2e: E2EStack, run_id: str) -> list[dict[str, Any]]:
    return [e["payload"] for e in await e2e.events(run_id) if e["type"] == "run.controlled"]


async def wait_status(e2e: E2EStack, run_id: str, status: str, timeout: float = 60.0) -> None:
    async with asyncio.timeout(timeout):
        while (await e2e.run(run_id))["status"] != status:
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def classify_in_flight(e2e: E2EStack, hello: dict[str, Any]) -> AsyncIterator[str]:
    """A run of ``hello`` whose first task node (classify) is held inside the model call.

    The gate is opened again on exit, whatever the test did, so the stack can stop.
    """
    flowchart_id = await e2e.create_flowchart(hello)
    e2e.gate.arrived.clear()
    e2e.gate.open.clear()
    try:
        run = await e2e.start_run(flowchart_id, user="Ada")
        await asyncio.wait_for(e2e.gate.arrived.wait(), 60)
        assert (await e2e.run(run["id"]))["status"] == "running"
        assert (await by_node(e2e, run["id"]))["classify"]["status"] not in (
            "succeeded",
            "failed",
            "cancelled",
        )
        yield str(run["id"])
    finally:
        e2e.gate.open.set()


async def wait_reports_consumed(e2e: E2EStack, run_id: str, reports: int) -> None:
    """Wait for ``reports`` worker reports of the run and for the orchestrator to take them."""
    nc = await nats.connect(e2e.services.endpoints.nats_url)
    try:
        js = nc.jetstream()
        async with asyncio.timeout(60):
            while True:
                info = await js.stream_info(
                    subjects.EVT_STREAM, subjects_filter=subjects.exec_event(run_id)
                )
                stored = (info.state.subjects or {}).get(subjects.exec_event(run_id), 0)
                consumers = [
                    c
                    for c in await js.consumers_info(subjects.EVT_STREAM)
                    if c.config.filter_subject == subjects.exec_events_all()
                ]
                if (
                    stored >= reports
                    and consumers
                    and all(c.num_pending == 0 and c.num_ack_pending == 0 for c in consumers)
                ):
                    return
                await asyncio.sleep(0.05)
    finally:
        await nc.close()


async def test_cancel_while_a_task_runs_ends_the_run_and_ignores_the_late_result(
    e2e_private: E2EStack, hello: dict[str, Any]
) -> None:
    e2e = e2e_private
    async with classify_in_flight(e2e, hello) as run_id:
        classify = (await by_node(e2e, run_id))["classify"]
        run = controlled(await control(e2e, run_id, "cancel", key="cancel-1", reason="stop it"))
        assert run["status"] == "cancelled"
        assert (await by_node(e2e, run_id))["classify"]["status"] == "cancelled"
        e2e.gate.open.set()  # the model answers; the worker's report is late
        await wait_reports_consumed(e2e, run_id, reports=1)

    assert (await e2e.run(run_id))["status"] == "cancelled"
    nodes = await by_node(e2e, run_id)
    assert set(nodes) == {"start", "classify"}  # nothing after classify ever ran
    assert nodes["classify"]["status"] == "cancelled"
    assert nodes["start"]["status"] == "succeeded"
    events = await e2e.events(run_id)
    assert [e["sequence"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["type"] == "run.controlled"  # the late report added nothing
    assert not {"run.succeeded", "run.failed"} & {e["type"] for e in events}
    payload = events[-1]["payload"]
    assert payload["action"] == "cancel"
    assert payload["status"] == "cancelled"
    assert payload["request_id"] == "cancel-1"
    assert payload["reason"] == "stop it"
    assert payload["cancelled_node_run_ids"] == [classify["id"]]
    # a finished run can be neither paused nor resumed nor cancelled again
    conflict(await control(e2e, run_id, "pause"))
    conflict(await control(e2e, run_id, "resume"))
    conflict(await control(e2e, run_id, "cancel", key="cancel-2"))
    await e2e.assert_rebuilds(run_id)


async def test_pause_holds_the_next_node_until_resume(
    e2e_private: E2EStack, hello: dict[str, Any]
) -> None:
    e2e = e2e_private
    before = e2e.llm.stats.completions
    async with classify_in_flight(e2e, hello) as run_id:
        run = controlled(await control(e2e, run_id, "pause", key="pause-1", reason="look"))
        assert run["status"] == "pausing"  # classify is still in flight
        assert (await by_node(e2e, run_id))["classify"]["status"] != "cancelled"
        e2e.gate.open.set()
        await wait_status(e2e, run_id, "paused")

    nodes = await by_node(e2e, run_id)
    assert nodes["classify"]["status"] == "succeeded"
    assert nodes["route"]["status"] == "queued"  # activated, held, not dispatched
    assert set(nodes) == {"start", "classify", "route"}
    assert e2e.llm.stats.completions - before == 1

    resumed = controlled(await control(e2e, run_id, "resume", key="resume-1"))
    assert resumed["status"] == "running"
    finished = await e2e.wait_terminal(run_id)
    assert finished["status"] == "succeeded"
    nodes = await by_node(e2e, run_id)
    assert set(nodes) == {"start", "classify", "route", "greet", "end"}
    assert all(n["status"] == "succeeded" for n in nodes.values())
    assert e2e.llm.stats.completions - before == 2

    events = await control_events(e2e, run_id)
    assert [(e["action"], e["status"]) for e in events] == [
        ("pause", "pausing"),
        ("pause", "paused"),
        ("resume", "running"),
    ]
    assert events[0]["request_id"] == "pause-1"
    assert events[0]["reason"] == "look"
    assert events[-1]["request_id"] == "resume-1"
    await e2e.assert_rebuilds(run_id)


async def test_same_idempotency_key_cancels_once(
    e2e_private: E2EStack, hello: dict[str, Any]
) -> None:
    e2e = e2e_private
    async with classify_in_flight(e2e, hello) as run_id:
        first = controlled(await control(e2e, run_id, "cancel", key="same-key"))
        second = controlled(await control(e2e, run_id, "cancel", key="same-key"))
        assert first["status"] == second["status"] == "cancelled"
        assert second == first

    events = await control_events(e2e, run_id)
    assert len(events) == 1, events
    assert events[0]["request_id"] == "same-key"
    # a new key is a new request, and cancelling a cancelled run is not allowed
    conflict(await control(e2e, run_id, "cancel", key="other-key"))
    assert len(await control_events(e2e, run_id)) == 1
    await e2e.assert_rebuilds(run_id)


async def test_resume_of_a_running_run_is_409(e2e_private: E2EStack, hello: dict[str, Any]) -> None:
    e2e = e2e_private
    async with classify_in_flight(e2e, hello) as run_id:
        response = await control(e2e, run_id, "resume", key="resume-early")
        conflict(response)
        assert response.json()["error"]["request_id"] == response.headers["x-request-id"]
        assert (await e2e.run(run_id))["status"] == "running"

    assert (await e2e.wait_terminal(run_id))["status"] == "succeeded"
    assert await control_events(e2e, run_id) == []
    await e2e.assert_rebuilds(run_id)


async def test_control_of_an_unknown_run_is_404(e2e: E2EStack) -> None:
    for action in ("cancel", "pause", "resume"):
        response = await control(e2e, "no-such-run", action)
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "not_found"


async def test_pause_of_a_finished_run_is_409(e2e: E2EStack, hello: dict[str, Any]) -> None:
    run = await e2e.start_run(await e2e.create_flowchart(hello))
    assert (await e2e.wait_terminal(run["id"]))["status"] == "succeeded"
    conflict(await control(e2e, run["id"], "pause"))
    conflict(await control(e2e, run["id"], "cancel"))
    assert (await e2e.run(run["id"]))["status"] == "succeeded"
    assert await control_events(e2e, run["id"]) == []
    await e2e.assert_rebuilds(run["id"])
