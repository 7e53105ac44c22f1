"""Group commit: steps that arrive while a transaction runs share the next one, across runs;
a run's steps stay serial and in order."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from llmctl_libs.messages import Trace, make_envelope
from llmctl_orchestrator.step_groups import Batch, QueuedStep, StepGroups


async def _body(*_args: Any) -> None:
    return None


def _step(key: str) -> QueuedStep:
    envelope = make_envelope(
        "node.executed", {"k": key}, trace=Trace(correlation_id="c"), idempotency_key=key
    )
    return QueuedStep(envelope, "scope", _body)


def _keys(batch: Batch) -> dict[str, list[str]]:
    return {run: [s.envelope.idempotency_key for s in steps] for run, steps in batch.items()}


def _settle(batch: Batch) -> None:
    for steps in batch.values():
        for step in steps:
            step.settle()


async def test_steps_of_several_runs_arriving_during_a_transaction_share_the_next_one() -> None:
    batches: list[dict[str, list[str]]] = []
    first_started, release = asyncio.Event(), asyncio.Event()

    async def process(batch: Batch) -> None:
        batches.append(_keys(batch))
        first_started.set()
        await release.wait()
        _settle(batch)

    groups = StepGroups(process, lanes=1)
    leader = asyncio.create_task(groups.submit("r1", _step("a")))
    await first_started.wait()
    followers = [
        asyncio.create_task(groups.submit(run, _step(key)))
        for run, key in (("r1", "b"), ("r2", "x"), ("r1", "c"), ("r3", "y"))
    ]
    await asyncio.sleep(0)  # let the followers queue behind the first transaction
    release.set()
    await asyncio.gather(leader, *followers)
    assert batches == [{"r1": ["a"]}, {"r1": ["b", "c"], "r2": ["x"], "r3": ["y"]}]


async def test_a_run_held_by_one_lane_is_not_taken_by_another() -> None:
    """With two lanes, a run's second step waits for its first transaction, while another
    run's step goes ahead in the second lane."""
    in_progress: set[str] = set()
    overlaps: list[str] = []
    order: list[str] = []
    gate = asyncio.Event()

    async def process(batch: Batch) -> None:
        for run in batch:
            if run in in_progress:
                overlaps.append(run)
            in_progress.add(run)
        order.extend(k for keys in _keys(batch).values() for k in keys)
        if "a" in _keys(batch).get("r1", []):
            await gate.wait()
        in_progress.difference_update(batch)
        _settle(batch)

    groups = StepGroups(process, lanes=2)
    first = asyncio.create_task(groups.submit("r1", _step("a")))
    await asyncio.sleep(0)
    second = asyncio.create_task(groups.submit("r1", _step("b")))
    other = asyncio.create_task(groups.submit("r2", _step("x")))
    await other  # r2 went through the second lane while r1's first step is still in progress
    assert order == ["a", "x"]
    gate.set()
    await asyncio.gather(first, second)
    assert order == ["a", "x", "b"]
    assert overlaps == []


async def test_batches_respect_the_per_run_and_total_limits() -> None:
    batches: list[dict[str, list[str]]] = []
    started, release = asyncio.Event(), asyncio.Event()

    async def process(batch: Batch) -> None:
        batches.append(_keys(batch))
        started.set()
        await release.wait()
        _settle(batch)

    groups = StepGroups(process, max_group=2, max_batch=3, lanes=1)
    waiters = [asyncio.create_task(groups.submit("r0", _step("first")))]
    await started.wait()
    for run, key in (("r1", "a"), ("r1", "b"), ("r1", "c"), ("r2", "x"), ("r2", "y")):
        waiters.append(asyncio.create_task(groups.submit(run, _step(key))))
    await asyncio.sleep(0)
    release.set()
    await asyncio.gather(*waiters)
    assert batches == [
        {"r0": ["first"]},
        {"r1": ["a", "b"], "r2": ["x"]},  # 2 of r1 (per run), then 3 in all
        {"r1": ["c"], "r2": ["y"]},
    ]


async def test_a_failed_step_raises_in_its_own_waiter_only() -> None:
    async def process(batch: Batch) -> None:
        for steps in batch.values():
            for step in steps:
                key = step.envelope.idempotency_key
                step.settle(ValueError(key) if key == "bad" else None)

    groups = StepGroups(process)
    with pytest.raises(ValueError, match="bad"):
        await groups.submit("r1", _step("bad"))
    await groups.submit("r1", _step("good"))  # the run's queue is usable again


async def test_a_processor_that_raises_fails_its_batch_and_the_lane_goes_on() -> None:
    calls = 0

    async def process(batch: Batch) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database gone")
        _settle(batch)

    groups = StepGroups(process, lanes=1)
    with pytest.raises(RuntimeError, match="database gone"):
        await groups.submit("r1", _step("a"))
    await groups.submit("r1", _step("b"))


async def test_waiters_are_released_when_a_lane_is_cancelled() -> None:
    started = asyncio.Event()

    async def process(_batch: Batch) -> None:
        started.set()
        await asyncio.Event().wait()  # never finishes

    groups = StepGroups(process, lanes=1)
    waiter = asyncio.create_task(groups.submit("r1", _step("a")))
    await started.wait()
    (lane,) = groups._lanes
    lane.cancel()
    with pytest.raises(RuntimeError, match="abandoned"):
        await waiter


async def test_cancelling_the_last_lane_fails_the_steps_still_waiting() -> None:
    started = asyncio.Event()

    async def process(_batch: Batch) -> None:
        started.set()
        await asyncio.Event().wait()  # never finishes

    groups = StepGroups(process, lanes=1)
    first = asyncio.create_task(groups.submit("r1", _step("a")))
    await started.wait()
    queued = asyncio.create_task(groups.submit("r2", _step("b")))
    await asyncio.sleep(0)
    (lane,) = groups._lanes
    lane.cancel()
    for waiter in (first, queued):
        with pytest.raises(RuntimeError, match="abandoned"):
            await waiter
