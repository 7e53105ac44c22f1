"""Durable consumers are reconciled to the declared shape when a service starts."""

from __future__ import annotations

from llmctl_contracts import subjects
from llmctl_libs.bus import DEFAULT_ACK_WAIT_SECONDS, Bus


async def _noop(_body: bytes, _headers: dict[str, str]) -> None:
    return None


async def test_a_durable_declared_with_another_ack_wait_is_updated(nats_url: str) -> None:
    subject = "llmctl.cmd.test-durables.ack"
    for ack_wait in (30.0, DEFAULT_ACK_WAIT_SECONDS):
        bus = Bus(nats_url, service="test-durables")
        bus.consume(
            subject,
            "test-durables-ack",
            _noop,
            stream=subjects.CMD_STREAM,
            ack_wait_seconds=ack_wait,
        )
        await bus.start()
        try:
            info = await bus.js.consumer_info(subjects.CMD_STREAM, "test-durables-ack")
        finally:
            await bus.stop()
        assert info.config.ack_wait == ack_wait
        assert info.config.deliver_group == "test-durables-ack"
