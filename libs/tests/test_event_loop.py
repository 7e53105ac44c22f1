"""The services' event loop: uvloop by default, asyncio's own with LLMCTL_EVENT_LOOP=asyncio.

These are sync tests: :func:`run` starts its own loop, as a service's ``main`` does.
"""

from __future__ import annotations

import asyncio

import pytest
import uvloop

from llmctl_libs.event_loop import EVENT_LOOP_VARIABLE, loop_factory, run


async def _loop_module(value: int) -> tuple[str, int]:
    await asyncio.sleep(0)
    return type(asyncio.get_running_loop()).__module__, value * 2


@pytest.mark.parametrize("value", [None, "", "  ", "uvloop", "UVLoop"])
def test_uvloop_is_the_default(monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    if value is None:
        monkeypatch.delenv(EVENT_LOOP_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(EVENT_LOOP_VARIABLE, value)
    assert loop_factory() is uvloop.new_event_loop
    module, result = run(_loop_module(21))
    assert module.startswith("uvloop")
    assert result == 42


@pytest.mark.parametrize("value", ["asyncio", " AsyncIO "])
def test_asyncio_forces_the_standard_loop(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(EVENT_LOOP_VARIABLE, value)
    assert loop_factory() is None
    module, result = run(_loop_module(5))
    assert module.startswith("asyncio")
    assert result == 10


def test_an_unknown_loop_is_refused_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(EVENT_LOOP_VARIABLE, "trio")
    with pytest.raises(SystemExit) as raised:
        loop_factory()
    assert "LLMCTL_EVENT_LOOP" in str(raised.value)
    assert "'trio'" in str(raised.value)
    coroutine = _loop_module(1)
    with pytest.raises(SystemExit, match="LLMCTL_EVENT_LOOP"):
        run(coroutine)
    coroutine.close()  # never started
