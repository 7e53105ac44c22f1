"""Bus.publish_many against real NATS: in order, deduplicated by message id, failures raised,
one reply subscription for every call."""

from __future__ import annotations

import uuid

import pytest
from nats.js.errors import NoStreamResponseError

from llmctl_contracts import subjects
from llmctl_libs.bus import Bus


async def test_messages_are_stored_in_order_and_a_repeated_id_once(nats_url: str) -> None:
    bus = Bus(nats_url, service="test-publish")
    await bus.start()
    try:
        run = uuid.uuid4().hex
        subject = f"llmctl.evt.run.{run}.node.queued"
        first = [(subject, f"m{i}".encode(), f"{run}-{i}") for i in range(5)]
        await bus.publish_many(first)
        subscriptions = len(bus.nc._subs)
        # a retried batch (ids 3, 4) with one new message: only the new one is stored
        await bus.publish_many([*first[3:], (subject, b"m5", f"{run}-5")])
        await bus.publish_many([])
        assert len(bus.nc._subs) == subscriptions  # the ack subscription is shared
        pull = await bus.js.pull_subscribe(subject, stream=subjects.EVT_STREAM)
        try:
            stored = await pull.fetch(10, timeout=2)
            bodies = [m.data for m in stored]
            with pytest.raises(TimeoutError):  # nothing more than those six
                await pull.fetch(1, timeout=0.5)
        finally:
            await pull.unsubscribe()
        assert bodies == [f"m{i}".encode() for i in range(6)]
    finally:
        await bus.stop()


async def test_a_subject_no_stream_takes_fails_the_call(nats_url: str) -> None:
    bus = Bus(nats_url, service="test-publish")
    await bus.start()
    try:
        with pytest.raises(NoStreamResponseError):
            await bus.publish_many([("llmctl.nowhere.test", b"x", uuid.uuid4().hex)])
    finally:
        await bus.stop()
