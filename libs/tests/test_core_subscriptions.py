"""Request handlers and broadcast listeners on core NATS (real server): concurrency, failures,
fan-out to every instance."""

from __future__ import annotations

import asyncio

import pytest
from nats.errors import TimeoutError as NatsTimeoutError

from llmctl_libs.bus import Bus
from llmctl_libs.ids import new_id


async def test_requests_are_handled_concurrently(nats_url: str) -> None:
    """Two requests whose handlers each wait for the other both get answers: the second is
    handled while the first is still in progress."""
    subject = f"llmctl.rpc.test.{new_id()}"
    arrived: list[bytes] = []
    both = asyncio.Event()

    async def handler(body: bytes) -> bytes:
        arrived.append(body)
        if len(arrived) == 2:
            both.set()
        await both.wait()
        return body.upper()

    server, client = Bus(nats_url, service=f"srv-{new_id()}"), Bus(nats_url, service="client")
    server.serve(subject, handler)
    await server.start()
    await client.start()
    try:
        replies = await asyncio.gather(
            client.request(subject, b"a", timeout=5), client.request(subject, b"b", timeout=5)
        )
    finally:
        await client.stop()
        await server.stop()
    assert sorted(replies) == [b"A", b"B"]


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
    subject = f"llmctl.evt.test-broadcast.{new_id()}"
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
    try:
        await buses[0].nc.publish(subject, b"stop node run x")
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in events.values())), 5)
    finally:
        for bus in buses:
            await bus.stop()
    assert heard == {"one": [b"stop node run x"], "two": [b"stop node run x"]}
