"""Request handlers and broadcast listeners on core NATS (real server): concurrency, failures,
fan-out to every instance."""

from __future__ import annotations

import asyncio

import pytest
from nats.errors import TimeoutError as NatsTimeoutError

from llmctl_libs.bus import Bus
from llmctl_libs.ids import new_id


async def test_subjects_are_served_concurrently_and_each_subject_in_order(
    nats_url: str,
) -> None:
    """Two requests on different subjects whose handlers wait for each other both get answers
    (served concurrently); requests of one subject are handled one at a time, in order."""
    first, second = f"llmctl.rpc.test.{new_id()}", f"llmctl.rpc.test.{new_id()}"
    arrived: list[bytes] = []
    both = asyncio.Event()
    running = 0
    most = 0

    async def waits_for_the_other(body: bytes) -> bytes:
        arrived.append(body)
        if len(arrived) == 2:
            both.set()
        await both.wait()
        return body.upper()

    async def one_at_a_time(body: bytes) -> bytes:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0)  # yield: a concurrent request would start now
        running -= 1
        return body

    server, client = Bus(nats_url, service=f"srv-{new_id()}"), Bus(nats_url, service="client")
    server.serve(first, waits_for_the_other)
    server.serve(second, waits_for_the_other)
    serial = f"llmctl.rpc.test.{new_id()}"
    server.serve(serial, one_at_a_time)
    await server.start()
    await client.start()
    try:
        replies = await asyncio.gather(
            client.request(first, b"a", timeout=5), client.request(second, b"b", timeout=5)
        )
        echoed = await asyncio.gather(
            *(client.request(serial, str(n).encode(), timeout=5) for n in range(5))
        )
    finally:
        await client.stop()
        await server.stop()
    assert sorted(replies) == [b"A", b"B"]
    assert sorted(echoed) == [b"0", b"1", b"2", b"3", b"4"]
    assert most == 1


async def test_a_subject_may_serve_several_requests_at_once(nats_url: str) -> None:
    """With ``max_workers=3``, three requests of one subject are in their handler together
    (each waits until all three arrived); a fourth waits for a free worker."""
    subject = f"llmctl.rpc.test.{new_id()}"
    inside = 0
    most = 0
    three = asyncio.Event()

    async def waits_for_three(body: bytes) -> bytes:
        nonlocal inside, most
        inside += 1
        most = max(most, inside)
        if inside == 3:
            three.set()
        await three.wait()
        inside -= 1
        return body

    server, client = Bus(nats_url, service=f"srv-{new_id()}"), Bus(nats_url, service="client")
    server.serve(subject, waits_for_three, max_workers=3)
    await server.start()
    await client.start()
    try:
        replies = await asyncio.gather(
            *(client.request(subject, str(n).encode(), timeout=5) for n in range(4))
        )
    finally:
        await client.stop()
        await server.stop()
    assert sorted(replies) == [b"0", b"1", b"2", b"3"]
    assert most == 3


async def test_a_failing_handler_leaves_its_requester_waiting_and_serves_the_next(
    nats_url: str,
) -> None:
    subject = f"llmctl.rpc.test.{new_id()}"

    async def handler(body: bytes) -> bytes:
        if body == b"boom":
            raise RuntimeError("handler bug")
        return b"ok"

    server, client = Bus(nats_url, service=f"srv-{new_id()}"), Bus(nats_url, service="client")
    server.serve(subject, handler)
    await server.start()
    await client.start()
    try:
        with pytest.raises(NatsTimeoutError):
            await client.request(subject, b"boom", timeout=0.5)
        assert await client.request(subject, b"fine", timeout=5) == b"ok"
    finally:
        await client.stop()
        await server.stop()


async def test_every_instance_hears_a_broadcast(nats_url: str) -> None:
    # a control subject like the real cancel broadcast: outside every JetStream stream
    subject = f"llmctl.ctl.test-broadcast.{new_id()}"
    heard: dict[str, list[bytes]] = {"one": [], "two": []}
    events = {name: asyncio.Event() for name in heard}
    buses = []
    for name in heard:

        async def on_notice(body: bytes, name: str = name) -> None:
            heard[name].append(body)
            events[name].set()

        bus = Bus(nats_url, service="listener")  # same service: broadcast, not a queue group
        bus.listen(subject, on_notice)
        await bus.start()
        buses.append(bus)
    sender = Bus(nats_url, service="orchestrator")  # as in production: another service sends
    await sender.start()
    try:
        await sender.nc.publish(subject, b"stop node run x")
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in events.values())), 5)
    finally:
        for bus in [sender, *buses]:
            await bus.stop()
    assert heard == {"one": [b"stop node run x"], "two": [b"stop node run x"]}
