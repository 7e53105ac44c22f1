"""Orchestrator settings read from the environment."""

from __future__ import annotations

import pytest

from llmctl_orchestrator.app import TIMEOUT_GRACE_ENV, timeout_grace_from_env


def test_timeout_grace_defaults_to_15_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TIMEOUT_GRACE_ENV, raising=False)
    assert timeout_grace_from_env() == 15.0


def test_timeout_grace_takes_a_number(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TIMEOUT_GRACE_ENV, "0.5")
    assert timeout_grace_from_env() == 0.5


@pytest.mark.parametrize("raw", ["soon", "-1", "nan", ""])
def test_bad_timeout_grace_stops_the_service_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, raw: str
) -> None:
    monkeypatch.setenv(TIMEOUT_GRACE_ENV, raw)
    with pytest.raises(SystemExit, match=f"{TIMEOUT_GRACE_ENV} must be a number of seconds >= 0"):
        timeout_grace_from_env()
