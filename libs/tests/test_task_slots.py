"""TaskSlots: at most ``limit`` tasks at once, back pressure on spawn, drain on stop."""

from __future__ import annotations

import asyncio

from llmctl_libs.task_slots import TaskSlots


async def test_spawn_waits_for_a_free_slot() -> None:
    slots = TaskSlots(1)
    release = asyncio.Event()
    order: list[str] = []

    async def work(name: str) -> None:
        order.append(f"start {name}")
        await release.wait()
        order.append(f"end {name}")

    await slots.spawn(work("a"))
    second = asyncio.create_task(slots.spawn(work("b")))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert not second.done()  # "a" holds the only slot
    assert order == ["start a"]
    release.set()
    await second
    await slots.drain(5)
    assert order == ["start a", "end a", "start b", "end b"]


async def test_drain_cancels_what_outlives_the_timeout() -> None:
    slots = TaskSlots(2)
    finished: list[str] = []
    cancelled: list[str] = []

    async def quick() -> None:
        finished.append("quick")

    async def stuck() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append("stuck")
            raise

    await slots.spawn(quick())
    await slots.spawn(stuck())
    await slots.drain(0.05)
    assert finished == ["quick"]
    assert cancelled == ["stuck"]


async def test_a_spawn_cancelled_while_waiting_never_starts_its_work() -> None:
    slots = TaskSlots(1)
    started: list[str] = []
    hold = asyncio.Event()

    async def work(name: str) -> None:
        started.append(name)
        await hold.wait()

    await slots.spawn(work("first"))
    waiting = asyncio.create_task(slots.spawn(work("never")))
    await asyncio.sleep(0)
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    hold.set()
    await slots.drain(5)
    assert started == ["first"]
