"""Batcher: items that queue up while a batch is processed join the next batch; each caller
gets its own item's outcome, and a failed batch fails only its own callers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import pytest

from llmctl_libs.batching import Batcher


async def _until(condition: Callable[[], bool]) -> None:
    """Yield to the loop until ``condition`` holds (the tasks it waits for are all ready)."""
    async with asyncio.timeout(5):
        while not condition():
            await asyncio.sleep(0)


def _result(item: str) -> str:
    return f"done {item}"


async def test_items_submitted_during_a_batch_join_the_next_one() -> None:
    batches: list[list[str]] = []
    first_started, release = asyncio.Event(), asyncio.Event()

    async def process(items: list[str]) -> Sequence[str | BaseException]:
        batches.append(list(items))
        first_started.set()
        await release.wait()
        return [_result(item) for item in items]

    batcher: Batcher[str, str] = Batcher(process, lanes=1)
    leader = asyncio.create_task(batcher.submit("a"))
    await first_started.wait()
    followers = {item: asyncio.create_task(batcher.submit(item)) for item in ("b", "c", "d")}
    await _until(lambda: len(batcher._waiting) == 3)
    assert batches == [["a"]]  # the followers wait for the batch in progress
    release.set()
    assert await leader == "done a"
    for item, task in followers.items():
        assert await task == _result(item)
    assert batches == [["a"], ["b", "c", "d"]]


async def test_each_caller_gets_its_own_items_result() -> None:
    batches: list[list[int]] = []

    async def process(items: list[int]) -> Sequence[int | BaseException]:
        batches.append(list(items))
        return [item * 10 for item in items]

    batcher: Batcher[int, int] = Batcher(process, lanes=1)
    results = await asyncio.gather(*(batcher.submit(n) for n in range(1, 6)))
    assert results == [10, 20, 30, 40, 50]
    assert batches == [[1, 2, 3, 4, 5]]  # one batch: the mapping was not trivially 1:1


async def test_an_exception_outcome_is_raised_in_its_own_caller_only() -> None:
    batches: list[list[str]] = []

    async def process(items: list[str]) -> Sequence[str | BaseException]:
        batches.append(list(items))
        return [ValueError(f"bad {item}") if item.startswith("bad") else item for item in items]

    batcher: Batcher[str, str] = Batcher(process, lanes=1)
    results = await asyncio.gather(
        batcher.submit("good-1"),
        batcher.submit("bad-1"),
        batcher.submit("good-2"),
        return_exceptions=True,
    )
    assert batches == [["good-1", "bad-1", "good-2"]]
    assert results[0] == "good-1"
    assert isinstance(results[1], ValueError)
    assert str(results[1]) == "bad bad-1"
    assert results[2] == "good-2"


async def test_a_process_that_raises_fails_its_batch_and_the_batcher_goes_on() -> None:
    batches: list[list[str]] = []

    async def process(items: list[str]) -> Sequence[str | BaseException]:
        batches.append(list(items))
        if len(batches) == 1:
            raise RuntimeError("database gone")
        return [_result(item) for item in items]

    batcher: Batcher[str, str] = Batcher(process, lanes=1)
    results = await asyncio.gather(
        *(batcher.submit(item) for item in ("a", "b", "c")), return_exceptions=True
    )
    assert batches == [["a", "b", "c"]]
    for outcome in results:
        assert isinstance(outcome, RuntimeError)
        assert str(outcome) == "database gone"
    assert await batcher.submit("d") == "done d"
    assert batches == [["a", "b", "c"], ["d"]]


async def test_a_wrong_number_of_outcomes_fails_every_caller_of_the_batch() -> None:
    async def process(items: list[str]) -> Sequence[str | BaseException]:
        return [_result(item) for item in items][:-1]  # one short

    batcher: Batcher[str, str] = Batcher(process, lanes=1, name="short")
    results = await asyncio.gather(
        *(batcher.submit(item) for item in ("a", "b", "c")), return_exceptions=True
    )
    for outcome in results:
        assert isinstance(outcome, RuntimeError)
        assert str(outcome) == "short: 2 outcomes for a batch of 3"


async def test_batches_respect_max_batch() -> None:
    batches: list[list[str]] = []
    started, release = asyncio.Event(), asyncio.Event()

    async def process(items: list[str]) -> Sequence[str | BaseException]:
        batches.append(list(items))
        started.set()
        await release.wait()
        return [_result(item) for item in items]

    batcher: Batcher[str, str] = Batcher(process, max_batch=2, lanes=1)
    waiters = [asyncio.create_task(batcher.submit("first"))]
    await started.wait()
    waiters += [asyncio.create_task(batcher.submit(item)) for item in "abcde"]
    await _until(lambda: len(batcher._waiting) == 5)
    release.set()
    assert await asyncio.gather(*waiters) == [_result(item) for item in ["first", *"abcde"]]
    assert batches == [["first"], ["a", "b"], ["c", "d"], ["e"]]


async def test_two_lanes_run_two_batches_at_once_and_no_more() -> None:
    batches: list[list[str]] = []
    in_progress = 0
    most_in_progress = 0
    both_started, release = asyncio.Event(), asyncio.Event()

    async def process(items: list[str]) -> Sequence[str | BaseException]:
        nonlocal in_progress, most_in_progress
        batches.append(list(items))
        in_progress += 1
        most_in_progress = max(most_in_progress, in_progress)
        if in_progress == 2:
            both_started.set()
        await release.wait()
        in_progress -= 1
        return [_result(item) for item in items]

    batcher: Batcher[str, str] = Batcher(process, lanes=2)
    first = asyncio.create_task(batcher.submit("a"))
    await _until(lambda: batches == [["a"]])
    second = asyncio.create_task(batcher.submit("b"))
    async with asyncio.timeout(5):  # with one lane, "b" would wait for "a" and this times out
        await both_started.wait()
    assert batches == [["a"], ["b"]]
    third = asyncio.create_task(batcher.submit("c"))
    await _until(lambda: len(batcher._waiting) == 1)
    assert len(batcher._lanes) == 2  # no third lane: "c" waits for one of the two
    release.set()
    assert list(await asyncio.gather(first, second, third)) == ["done a", "done b", "done c"]
    assert sorted(batches) == [["a"], ["b"], ["c"]]
    assert most_in_progress == 2


async def test_a_cancelled_caller_does_not_disturb_the_rest_of_its_batch() -> None:
    started, release = asyncio.Event(), asyncio.Event()
    batches: list[list[str]] = []

    async def process(items: list[str]) -> Sequence[str | BaseException]:
        batches.append(list(items))
        started.set()
        await release.wait()
        return [_result(item) for item in items]

    batcher: Batcher[str, str] = Batcher(process, lanes=1)
    gone = asyncio.create_task(batcher.submit("gone"))
    kept = asyncio.create_task(batcher.submit("kept"))
    await started.wait()
    assert batches == [["gone", "kept"]]
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    release.set()
    assert await kept == "done kept"
    assert await batcher.submit("later") == "done later"


async def test_cancelling_a_lane_fails_its_waiters_as_abandoned() -> None:
    started = asyncio.Event()
    hang = True

    async def process(items: list[str]) -> Sequence[str | BaseException]:
        if hang:
            started.set()
            await asyncio.Event().wait()  # never finishes
        return [_result(item) for item in items]

    batcher: Batcher[str, str] = Batcher(process, lanes=1, name="gated")
    waiters = [asyncio.create_task(batcher.submit(item)) for item in ("a", "b")]
    await started.wait()
    (lane,) = batcher._lanes
    lane.cancel()
    for waiter in waiters:
        with pytest.raises(RuntimeError, match="abandoned"):
            await waiter
    with pytest.raises(asyncio.CancelledError):
        await lane
    hang = False
    assert await batcher.submit("c") == "done c"  # a new lane takes later items


async def test_cancelling_the_last_lane_fails_what_still_waits() -> None:
    started = asyncio.Event()

    async def process(_items: list[str]) -> list[str]:
        started.set()
        await asyncio.Event().wait()  # never finishes
        return []

    batcher: Batcher[str, str] = Batcher(process, lanes=1)
    first = asyncio.create_task(batcher.submit("a"))
    await started.wait()
    queued = asyncio.create_task(batcher.submit("queued"))
    await asyncio.sleep(0)  # let it join the waiting list
    (lane,) = batcher._lanes
    lane.cancel()
    for waiter in (first, queued):
        with pytest.raises(RuntimeError, match="abandoned"):
            await waiter
