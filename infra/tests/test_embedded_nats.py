"""Embedded NATS: JetStream state survives a SIGKILL and a graceful restart."""

from __future__ import annotations

import uuid

import nats
import pytest
from nats.js.errors import NotFoundError

from llmctl_infra.embedded import NatsServer
from llmctl_infra.embedded.nats import MAX_PAYLOAD
from llmctl_infra.process import pid_alive


async def _stream_messages(url: str, stream: str) -> int:
    client = await nats.connect(url)
    try:
        info = await client.jetstream().stream_info(stream)
        return info.state.messages
    finally:
        await client.close()


async def test_jetstream_messages_survive_kill_and_restart(
    private_nats_server: NatsServer,
) -> None:
    server = private_nats_server
    stream = f"S{uuid.uuid4().hex[:8]}"
    client = await nats.connect(server.url)
    js = client.jetstream()
    await js.add_stream(name=stream, subjects=[f"{stream}.>"])
    for index in range(5):
        await js.publish(f"{stream}.x", f"m{index}".encode())
    await client.close()

    old_pid, url = server.pid, server.url
    assert old_pid is not None
    server.kill()
    assert not pid_alive(old_pid)
    server.restart()
    assert server.url == url
    assert server.pid != old_pid
    assert await _stream_messages(server.url, stream) == 5

    server.restart()
    assert await _stream_messages(server.url, stream) == 5


async def test_shared_server_fixture_is_usable(nats_url: str) -> None:
    client = await nats.connect(nats_url)
    try:
        with pytest.raises(NotFoundError):
            await client.jetstream().stream_info(f"missing{uuid.uuid4().hex[:6]}")
    finally:
        await client.close()


def test_stop_ends_the_process(tmp_path: object) -> None:
    from pathlib import Path

    server = NatsServer(Path(str(tmp_path)) / "n")
    server.start()
    pid = server.pid
    assert pid is not None
    assert server.healthy()
    server.stop()
    assert not pid_alive(pid)
    assert not server.healthy()


async def test_messages_up_to_max_payload_are_accepted(private_nats_server: NatsServer) -> None:
    stream = f"S{uuid.uuid4().hex[:8]}"
    client = await nats.connect(private_nats_server.url)
    try:
        assert client.max_payload == MAX_PAYLOAD
        js = client.jetstream()
        await js.add_stream(name=stream, subjects=[f"{stream}.>"])
        big = b"x" * (MAX_PAYLOAD - 4096)  # NATS's own default would refuse it (1 MiB)
        ack = await js.publish(f"{stream}.x", big)
        assert ack.seq == 1
        assert (await js.get_msg(stream, 1)).data == big
        with pytest.raises(nats.errors.MaxPayloadError):
            await client.publish(f"{stream}.y", b"x" * (MAX_PAYLOAD + 1))
    finally:
        await client.close()
