"""Node retry, skip and rewind sent as ``run.control`` bus commands: each reaches what the same
request over REST reaches, a repeated command (same request id) changes nothing, and a node
operation the run cannot take is dead-lettered with the error the API answers."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import TYPE_CHECKING, Any, Literal

import nats
from nats.aio.client import Client as NatsClient
from nats.js.api import DeliverPolicy

from llmctl_contracts import (
    decode_envelope,
    decode_payload,
    encode,
    subjects,
)
from llmctl_contracts.commands import ExecuteNode
from llmctl_contracts.rpc import ControlRun
from llmctl_infra.test_flowcharts import chain, task
from llmctl_infra.testing import control_command
from llmctl_libs.consumer import dead_letter_subject

if TYPE_CHECKING:
    from conftest import E2EStack


def _of(events: list[dict[str, Any]], type_name: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == type_name]


async def _publish_control(nc: NatsClient, request: ControlRun) -> int:
    """Publish ``request`` as a ``run.control`` command, as a program would.

    Returns:
        Its sequence in the commands stream.
    """
    envelope = control_command(request)
    ack = await nc.jetstream().publish(subjects.control_command(), encode(envelope))
    return int(ack.seq)


async def _consumed(nc: NatsClient, sequence: int) -> None:
    """Wait until the orchestrator has handled every control command up to ``sequence``
    (acknowledged: applied, answered from the first result, or dead-lettered)."""
    js = nc.jetstream()
    async with asyncio.timeout(60):
        while True:
            [consumer] = [
                c
                for c in await js.consumers_info(subjects.CMD_STREAM)
                if c.config.filter_subject == subjects.control_command()
            ]
            if (
                consumer.ack_floor is not None
                and (consumer.ack_floor.stream_seq or 0) >= sequence
                and consumer.num_ack_pending == 0
            ):
                return
            await asyncio.sleep(0.05)


async def _send_twice(e2e: E2EStack, request: ControlRun) -> None:
    """Publish ``request`` twice with the same request id; return once both were handled."""
    nc = await nats.connect(e2e.services.endpoints.nats_url)
    try:
        await _publish_control(nc, request)
        await _consumed(nc, await _publish_control(nc, request))
    finally:
        await nc.close()


async def _failed_by_timeout(e2e: E2EStack) -> tuple[dict[str, Any], dict[str, Any]]:
    """A run of start -> work -> end whose work node run timed out (the model never answered
    its one attempt), which failed the run.

    Returns:
        The failed run and its ``work`` node run.
    """
    e2e.gate.open.clear()
    try:
        run = await e2e.start_run(
            await e2e.create_flowchart(chain(task("work", timeout_seconds=2)))
        )
        failed = await e2e.wait_terminal(run["id"])
    finally:
        e2e.gate.open.set()
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "timeout"
    [work] = [n for n in await e2e.node_runs(run["id"]) if n["node_id"] == "work"]
    assert (work["status"], work["attempt"]) == ("failed", 1)
    return failed, work


async def _outcome(e2e: E2EStack, run: dict[str, Any]) -> dict[str, Any]:
    """The run's next terminal state after ``run`` (as it was before a control command)."""
    await e2e.follow(run["id"], after=run["last_sequence"])
    return await e2e.run(run["id"])


async def test_retry_command_reruns_the_failed_node_with_its_recorded_input(
    e2e: E2EStack,
) -> None:
    failed, work = await _failed_by_timeout(e2e)
    run_id = failed["id"]
    requests = e2e.llm.stats.requests
    nc = await nats.connect(e2e.services.endpoints.nats_url)
    try:
        executions = await nc.subscribe(subjects.execute_command("frontier"))
        retry = ControlRun(
            run_id=run_id, action="retry", request_id="bus-retry", node_run_id=work["id"]
        )
        await _send_twice(e2e, retry)
        finished = await _outcome(e2e, failed)
        assert (finished["status"], finished["error"]) == ("succeeded", None)
        envelope = decode_envelope((await executions.next_msg(timeout=30)).data)
        execute = decode_payload(envelope, ExecuteNode)
    finally:
        await nc.close()
    assert (execute.node_run_id, execute.attempt) == (work["id"], 2)
    assert execute.input_context == work["input_context"]  # the failed attempt's input
    assert e2e.llm.stats.requests == requests + 1  # one new attempt, not two

    [again] = [n for n in await e2e.node_runs(run_id) if n["node_id"] == "work"]
    assert (again["id"], again["status"], again["attempt"]) == (work["id"], "succeeded", 2)
    assert again["input_context"] == work["input_context"]
    assert again["error"] is None
    events = await e2e.events(run_id)
    [controlled] = _of(events, "run.controlled")  # the repeated command added nothing
    payload = controlled["payload"]
    assert (payload["action"], payload["status"], payload["request_id"]) == (
        "retry",
        "running",
        "bus-retry",
    )
    assert payload["node_run_id"] == work["id"]
    assert len(_of(events, "node.requeued")) == 1
    assert [
        e["payload"]["attempt"]
        for e in _of(events, "node.dispatched")
        if e["payload"]["node_id"] == "work"
    ] == [1, 2]
    assert [e["sequence"] for e in events] == list(range(1, len(events) + 1))
    await e2e.assert_rebuilds(run_id)


async def test_skip_command_ends_the_failed_node_skipped_and_the_run_continues(
    e2e: E2EStack,
) -> None:
    failed, work = await _failed_by_timeout(e2e)
    run_id = failed["id"]
    requests = e2e.llm.stats.requests
    skip = ControlRun(
        run_id=run_id,
        action="skip",
        request_id="bus-skip",
        node_run_id=work["id"],
        output={"summary": "skipped by an operator"},
    )
    await _send_twice(e2e, skip)
    finished = await _outcome(e2e, failed)
    assert (finished["status"], finished["error"]) == ("succeeded", None)
    assert e2e.llm.stats.requests == requests  # the skipped node never ran again

    by_node = {n["node_id"]: n for n in await e2e.node_runs(run_id)}
    assert set(by_node) == {"start", "work", "end"}
    skipped = by_node["work"]
    assert (skipped["status"], skipped["attempt"]) == ("skipped", 1)
    assert skipped["output"] == {"summary": "skipped by an operator"}
    upstream = {
        u["node_id"]: u["output"] for u in by_node["end"]["input_context"]["upstream_nodes"]
    }
    assert upstream["work"] == {"summary": "skipped by an operator"}
    events = await e2e.events(run_id)
    [controlled] = _of(events, "run.controlled")
    assert (controlled["payload"]["action"], controlled["payload"]["request_id"]) == (
        "skip",
        "bus-skip",
    )
    [node_skipped] = _of(events, "node.skipped")
    assert node_skipped["payload"]["node_run_id"] == work["id"]
    assert [e["sequence"] for e in events] == list(range(1, len(events) + 1))
    await e2e.assert_rebuilds(run_id)


async def test_rewind_command_reruns_from_the_node_and_supersedes_what_followed(
    e2e: E2EStack,
) -> None:
    run = await e2e.start_run(await e2e.create_flowchart(chain(task("draft"), task("review"))))
    done = await e2e.wait_terminal(run["id"])
    assert done["status"] == "succeeded"
    before = {n["node_id"]: n for n in await e2e.node_runs(run["id"])}
    events_before = await e2e.events(run["id"])
    requests = e2e.llm.stats.requests

    rewind = ControlRun(
        run_id=run["id"],
        action="rewind",
        request_id="bus-rewind",
        node_run_id=before["review"]["id"],
    )
    await _send_twice(e2e, rewind)
    finished = await _outcome(e2e, done)
    assert finished["status"] == "succeeded"
    assert e2e.llm.stats.requests == requests + 1  # only review ran again, once

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
    assert review["id"] != before["review"]["id"]
    assert (review["execution_index"], review["status"]) == (1, "succeeded")
    assert (
        review["input_context"]["upstream_nodes"]
        == before["review"]["input_context"]["upstream_nodes"]
    )
    events = await e2e.events(run["id"])
    kept = [(e["sequence"], e["type"], e["payload"]) for e in events[: len(events_before)]]
    assert kept == [(e["sequence"], e["type"], e["payload"]) for e in events_before]  # none deleted
    [rewound] = _of(events, "run.rewound")  # the repeated command added nothing
    [controlled] = _of(events, "run.controlled")
    assert (controlled["payload"]["action"], controlled["payload"]["request_id"]) == (
        "rewind",
        "bus-rewind",
    )
    start, end = rewound["payload"]["from_sequence"], rewound["payload"]["to_sequence"]
    queued_review = next(
        e
        for e in events_before
        if e["type"] == "node.queued" and e["payload"]["node_id"] == "review"
    )
    assert (start, end) == (queued_review["sequence"], len(events_before))
    assert [e["sequence"] for e in events if e["superseded"]] == list(range(start, end + 1))
    assert [e["sequence"] for e in events] == list(range(1, len(events) + 1))
    await e2e.assert_rebuilds(run["id"])


async def test_node_commands_the_run_cannot_take_are_dead_lettered_with_the_api_error(
    e2e: E2EStack,
) -> None:
    run = await e2e.start_run(await e2e.create_flowchart(chain(task("work"))))
    done = await e2e.wait_terminal(run["id"])
    assert done["status"] == "succeeded"
    [work] = [n for n in await e2e.node_runs(run["id"]) if n["node_id"] == "work"]
    rewound = await e2e.control_node_run(run["id"], work["id"], "rewind", key="rest-rewind")
    assert rewound.status_code == 200, rewound.text
    assert (await _outcome(e2e, done))["status"] == "succeeded"
    settled = await e2e.run(run["id"])
    events_before = await e2e.events(run["id"])

    refused: list[tuple[Literal["retry", "skip", "rewind"], str, str, str]] = [
        ("retry", work["id"], "conflict", "action"),  # the run did not fail
        ("skip", work["id"], "conflict", "action"),  # a finished run: nothing to skip
        ("rewind", work["id"], "conflict", "node_run_id"),  # superseded by the rewind
        ("rewind", "no-such-node-run", "not_found", "id"),
    ]
    nc = await nats.connect(e2e.services.endpoints.nats_url)
    try:
        letters = await nc.jetstream().subscribe(
            dead_letter_subject("orchestrator"),
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.NEW,
        )
        for n, (action, node_run_id, code, field) in enumerate(refused):
            request = ControlRun(
                run_id=run["id"],
                action=action,
                request_id=f"bus-refused-{n}",
                node_run_id=node_run_id,
            )
            await _publish_control(nc, request)
            letter = json.loads((await letters.next_msg(timeout=30)).data)
            assert decode_envelope(letter["body"].encode()).idempotency_key == (
                f"control:{run['id']}:bus-refused-{n}"
            )
            answer = await e2e.control_node_run(
                run["id"], node_run_id, action, key=f"rest-refused-{n}"
            )
            assert answer.status_code == (409 if code == "conflict" else 404), answer.text
            error = answer.json()["error"]
            assert (error["code"], error["details"][0]["field"]) == (code, field)
            same = ("code", "message", "details")
            assert {k: letter["error"][k] for k in same} == {k: error[k] for k in same}
    finally:
        await nc.close()
    assert await e2e.run(run["id"]) == settled  # nothing changed
    assert await e2e.events(run["id"]) == events_before
    await e2e.assert_rebuilds(run["id"])
