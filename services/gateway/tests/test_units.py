"""Unit tests: origin policy, the bounded send queue and slow-client disconnection."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from gateway_testkit import StubOrchestrator

from llmctl_gateway.origin import origin_allowed
from llmctl_gateway.relay import ClientTooSlow, SendQueue
from llmctl_gateway.settings import DEFAULT_SERVICES, GatewaySettings
from llmctl_gateway.ws import CLOSE_TOO_SLOW, ClientSession
from llmctl_libs.bus import Bus

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize(
    ("origin", "host", "allowed", "expected"),
    [
        (None, "gw:8080", (), True),
        ("http://localhost:3000", "gw:8080", (), True),
        ("http://127.0.0.1", "gw:8080", (), True),
        ("http://gw:8080", "gw:8080", (), True),
        ("http://gw:9999", "gw:8080", (), False),
        ("https://evil.example", "gw:8080", (), False),
        ("https://ui.example/", "gw:8080", ("https://UI.example",), True),
        ("https://any.example", "gw:8080", ("*",), True),
        ("null", "gw:8080", (), False),
        ("http://[::1]:3000", None, (), True),
    ],
)
def test_origin_allowed(
    origin: str | None, host: str | None, allowed: tuple[str, ...], expected: bool
) -> None:
    assert origin_allowed(origin, host, allowed) is expected


def test_settings_from_env() -> None:
    settings = GatewaySettings.from_env(
        {
            "LLMCTL_GATEWAY_PORT": "9000",
            "LLMCTL_GATEWAY_ALLOWED_ORIGINS": "https://a.example, https://b.example,",
            "LLMCTL_NATS_URL": "nats://n:4222",
        }
    )
    assert settings.port == 9000
    assert settings.host == "127.0.0.1"
    assert settings.allowed_origins == ("https://a.example", "https://b.example")
    assert settings.nats_url == "nats://n:4222"


async def test_send_queue_overflow() -> None:
    queue = SendQueue(1, put_timeout=0.05)
    await queue.put({"a": 1})
    with pytest.raises(ClientTooSlow):
        await queue.put({"a": 2})
    assert queue.overflowed.is_set()
    assert json.loads(await queue.get()) == {"a": 1}


class StuckSocket:
    """A client that sends one subscribe and then never reads anything."""

    def __init__(self, run_id: str) -> None:
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.inbox.put_nowait(
            {
                "type": "websocket.receive",
                "text": json.dumps({"type": "subscribe", "run_id": run_id}),
            }
        )
        self.closed: tuple[int, str | None] | None = None

    async def receive(self) -> dict[str, Any]:
        return await self.inbox.get()

    async def send_text(self, data: str) -> None:
        await asyncio.Event().wait()  # never completes: the client does not read

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.closed = (code, reason)


async def test_slow_client_is_disconnected(
    gateway_bus: Bus, gateway_settings: GatewaySettings, orchestrator: StubOrchestrator
) -> None:
    run = orchestrator.add_run()
    for seq in range(1, 11):
        orchestrator.record_event(run.id, seq)
    settings = GatewaySettings(
        nats_url=gateway_settings.nats_url, ws_send_queue=2, ws_send_timeout=0.2
    )
    socket = StuckSocket(run.id)
    session = ClientSession(socket, gateway_bus, settings)
    await asyncio.wait_for(session.serve(), 10)
    assert socket.closed == (CLOSE_TOO_SLOW, "client too slow: send queue overflowed")
    assert session.subscriptions == {}


def test_config_subjects_parse_into_entity_id_action() -> None:
    from llmctl_gateway.config_relay import parse_config_subject

    assert parse_config_subject("llmctl.evt.config.model.m-1.updated") == (
        "model",
        "m-1",
        "updated",
    )
    assert parse_config_subject("llmctl.evt.config.runtime_settings.a.b.saved") == (
        "runtime_settings",
        "a.b",
        "saved",
    )
    for subject in (
        "llmctl.evt.config.model.updated",
        "llmctl.evt.run.x.node.queued",
        "llmctl.evt.config.model..updated",
    ):
        assert parse_config_subject(subject) is None


def test_send_queue_offer_never_waits_and_marks_overflow() -> None:
    queue = SendQueue(maxsize=2, put_timeout=10.0)
    queue.offer("a")
    queue.offer("b")
    assert not queue.overflowed.is_set()
    queue.offer("c")  # full: the client is too slow, at once
    assert queue.overflowed.is_set()


def test_settings_from_env_services_and_send_limits() -> None:
    settings = GatewaySettings.from_env(
        {
            "LLMCTL_GATEWAY_SERVICES": "orchestrator, models",
            "LLMCTL_GATEWAY_WS_SEND_QUEUE": "8",
            "LLMCTL_GATEWAY_WS_SEND_TIMEOUT": "0.25",
        }
    )
    assert settings.services == ("orchestrator", "models")
    assert (settings.ws_send_queue, settings.ws_send_timeout) == (8, 0.25)
    assert GatewaySettings.from_env({}).services == DEFAULT_SERVICES


def test_reference_renders_constraints_readably() -> None:
    from llmctl_gateway.api_reference import render_reference

    document = {
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/x": {
                "get": {
                    "summary": "S",
                    "parameters": [
                        {
                            "name": "page",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1.0, "maximum": 100.0},
                        }
                    ],
                    "responses": {"200": {"description": "ok | fine"}},
                }
            }
        },
    }
    text = render_reference(document)
    assert "### `GET /x`" in text
    assert "| `page` | query | no | integer, >= 1, <= 100 |  |" in text
    assert "ok \\| fine" in text


async def test_run_relay_backlog_is_bounded_and_gaps_are_filled(
    gateway_bus: Bus, orchestrator: StubOrchestrator
) -> None:
    """Live events past the backlog are dropped, then sent in order from history: memory is
    bounded and the client still gets every event once."""
    from nats.aio.msg import Msg

    from llmctl_contracts import encode
    from llmctl_gateway.relay import RunRelay

    run = orchestrator.add_run()
    frames: list[dict[str, Any]] = []

    async def emit(frame: dict[str, Any]) -> None:
        frames.append(frame)

    relay = RunRelay(
        gateway_bus, run.id, 0, emit, rpc_timeout=2.0, page=2, gap_grace=0.05, max_backlog=2
    )
    for sequence in range(1, 7):  # six live events arrive before the relay reads any
        envelope = orchestrator.record_event(run.id, sequence)
        await relay._on_message(Msg(gateway_bus.nc, subject="s", data=encode(envelope)))
    assert relay._live.qsize() == 2  # four dropped
    task = asyncio.create_task(relay._relay_live())
    try:
        async with asyncio.timeout(10):
            while len(frames) < 6:
                await asyncio.sleep(0.02)
    finally:
        task.cancel()
    assert [f["sequence"] for f in frames] == [1, 2, 3, 4, 5, 6]
