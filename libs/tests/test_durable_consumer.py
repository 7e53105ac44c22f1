"""Durable consumers on nats-py (real NATS): ack on return, redelivery on failure, bounded
concurrency, graceful stop."""

from __future__ import annotations

import asyncio
import uuid

from llmctl_contracts import subjects
from llmctl_libs.bus import Bus


def _names(tag: str) -> tuple[str, str]:
    unique = uuid.uuid4().hex[:8]
    return f"llmctl.cmd.test-consumer.{tag}.{unique}", f"test-consumer-{tag}-{unique}"


async def _publish(bus: Bus, subject: str, bodies: list[bytes]) -> None:
    for body in bodies:
        await bus.publish(subject, body, msg_id=f"{subject}:{body.decode()}")


async def test_a_handled_message_is_acknowledged_and_not_redelivered(nats_url: str) -> None:
    subject, durable = _names("ack")
    seen: list[tuple[bytes, str]] = []
    handled = asyncio.Event()

    async def handler(body: bytes, headers: dict[str, str]) -> None:
        seen.append((body, headers["Nats-Msg-Id"]))
        handled.set()

    bus = Bus(nats_url, service="test-consumer")
    bus.consume(subject, durable, handler, stream=subjects.CMD_STREAM)
    await bus.start()
    try:
        await _publish(bus, subject, [b"one"])
        await asyncio.wait_for(handled.wait(), 10)
        for _ in range(200):  # the ack is sent right after the handler returns
            info = await bus.js.consumer_info(subjects.CMD_STREAM, durable)
            if info.num_ack_pending == 0:
                break
            await asyncio.sleep(0.01)
        assert info.num_ack_pending == 0
        assert info.num_redelivered == 0
    finally:
        await bus.stop()
    assert seen == [(b"one", f"{subject}:one")]


async def test_a_failed_handler_gets_the_message_again(nats_url: str) -> None:
    subject, durable = _names("retry")
    attempts: list[bytes] = []
    done = asyncio.Event()

    async def handler(body: bytes, _headers: dict[str, str]) -> None:
        attempts.append(body)
        if len(attempts) == 1:
            raise RuntimeError("database unavailable")
        done.set()

    bus = Bus(nats_url, service="test-consumer")
    bus.consume(subject, durable, handler, stream=subjects.CMD_STREAM)
    await bus.start()
    try:
        await _publish(bus, subject, [b"again"])
        await asyncio.wait_for(done.wait(), 10)
    finally:
        await bus.stop()
    assert attempts == [b"again", b"again"]


async def test_no_more_than_max_workers_handlers_run_at_once(nats_url: str) -> None:
    subject, durable = _names("workers")
    running = 0
    most = 0
    two_running = asyncio.Event()
    release, all_done = asyncio.Event(), asyncio.Event()
    finished: list[bytes] = []

    async def handler(body: bytes, _headers: dict[str, str]) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        if running == 2:
            two_running.set()
        await release.wait()
        running -= 1
        finished.append(body)
        if len(finished) == 5:
            all_done.set()

    bus = Bus(nats_url, service="test-consumer")
    bus.consume(subject, durable, handler, stream=subjects.CMD_STREAM, max_workers=2)
    await bus.start()
    try:
        await _publish(bus, subject, [b"a", b"b", b"c", b"d", b"e"])
        await asyncio.wait_for(two_running.wait(), 10)
        info = await bus.js.consumer_info(subjects.CMD_STREAM, durable)
        assert info.num_ack_pending == 5  # all delivered, two handled, three waiting a slot
        release.set()
        await asyncio.wait_for(all_done.wait(), 10)
    finally:
        await bus.stop()
    assert most == 2
    assert sorted(finished) == [b"a", b"b", b"c", b"d", b"e"]


async def test_stop_lets_a_running_handler_finish(nats_url: str) -> None:
    subject, durable = _names("stop")
    started = asyncio.Event()
    finished: list[bytes] = []

    async def handler(body: bytes, _headers: dict[str, str]) -> None:
        started.set()
        await asyncio.sleep(0.2)  # work in progress when the service is told to stop
        finished.append(body)

    bus = Bus(nats_url, service="test-consumer")
    bus.consume(subject, durable, handler, stream=subjects.CMD_STREAM)
    await bus.start()
    await _publish(bus, subject, [b"late"])
    await asyncio.wait_for(started.wait(), 10)
    await bus.stop()
    assert finished == [b"late"]
