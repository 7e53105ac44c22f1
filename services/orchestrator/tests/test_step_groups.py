"""Group commit per run: messages of a run that arrive while one is processed share a group."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from llmctl_libs.messages import Trace, make_envelope
from llmctl_orchestrator.step_groups import QueuedStep, StepGroups


async def _body(*_args: Any) -> None:
    return None


def _step(key: str) -> QueuedStep:
    envelope = make_envelope(
        "node.executed", {"k": key}, trace=Trace(correlation_id="c"), idempotency_key=key
    )
    return QueuedStep(envelope, "scope", _body)


async def test_steps_arriving_during_a_transaction_share_the_next_one() -> None:
    groups: list[tuple[str, list[str]]] = []
    first_started, release = asyncio.Event(), asyncio.Event()

    async def process(run_id: str, group: list[QueuedStep]) -> None:
        groups.append((run_id, [s.envelope.idempotency_key for s in group]))
        first_started.set()
        await release.wait()
        for step in group:
            step.settle()

    steps = StepGroups(process)
    leader = asyncio.create_task(steps.submit("r1", _step("a")))
    await first_started.wait()
    followers = [asyncio.create_task(steps.submit("r1", _step(k))) for k in ("b", "c")]
    other_run = asyncio.create_task(steps.submit("r2", _step("x")))
    await asyncio.sleep(0)  # let the followers queue behind the leader
    release.set()
    await asyncio.gather(leader, *followers, other_run)
    assert sorted(groups) == [("r1", ["a"]), ("r1", ["b", "c"]), ("r2", ["x"])]


async def test_a_failed_step_raises_in_its_own_waiter_only() -> None:
    async def process(_run_id: str, group: list[QueuedStep]) -> None:
        for step in group:
            key = step.envelope.idempotency_key
            step.settle(ValueError(key) if key == "bad" else None)

    steps = StepGroups(process)
    with pytest.raises(ValueError, match="bad"):
        await steps.submit("r1", _step("bad"))
    await steps.submit("r1", _step("good"))  # the run's queue is usable again


async def test_waiters_are_released_when_the_leader_stops() -> None:
    started = asyncio.Event()

    async def process(_run_id: str, _group: list[QueuedStep]) -> None:
        started.set()
        await asyncio.Event().wait()  # never finishes

    steps = StepGroups(process)
    leader = asyncio.create_task(steps.submit("r1", _step("a")))
    await started.wait()
    follower = asyncio.create_task(steps.submit("r1", _step("b")))
    await asyncio.sleep(0)
    leader.cancel()
    with pytest.raises(RuntimeError, match="abandoned"):
        await follower
