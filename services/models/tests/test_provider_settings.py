"""Provider settings schemas, settings validation, credential presence and drift (pure)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llmctl_contracts.models import SecretRef
from llmctl_models.drift import drift_notice
from llmctl_models.providers import PROVIDERS
from llmctl_models.secrets import check_secret, secret_present
from llmctl_models.settings_check import check_settings


def errors_of(provider: str, settings: dict[str, Any], **kw: Any) -> dict[str, str]:
    _, errors = check_settings(PROVIDERS[provider], settings, **kw)
    return {e.field: e.reason for e in errors}


def test_every_provider_is_described_with_its_versions() -> None:
    assert list(PROVIDERS) == ["openai", "anthropic", "gemini", "vertex", "vllm"]
    openai = PROVIDERS["openai"].descriptor()
    assert openai.current_version == 2
    assert [v.version for v in openai.versions] == [1, 2]
    assert openai.versions[0].added_fields == []
    assert openai.versions[1].added_fields == ["verbosity", "service_tier"]
    assert PROVIDERS["vllm"].descriptor().executor == "vllm"
    assert {f.name for f in PROVIDERS["vertex"].versions[-1].fields} >= {"project", "location"}


def test_defaults_fill_the_snapshot() -> None:
    settings, errors = check_settings(PROVIDERS["vllm"], {"max_model_len": 4096})
    assert errors == []
    assert settings == {
        "mode": "local",
        "dtype": "auto",
        "max_model_len": 4096,
        "gpu_memory_utilization": 0.9,
        "temperature": 0.2,
        "max_tokens": 2048,
        "request_timeout_seconds": 180,
    }
    assert check_settings(PROVIDERS["openai"], {"temperature": None})[0] == {"service_tier": "auto"}


@pytest.mark.parametrize(
    ("provider", "settings", "field", "reason"),
    [
        (
            "openai",
            {"reasoning_effort": "extreme"},
            "$.settings.reasoning_effort",
            "must be one of",
        ),
        ("openai", {"temperature": 3}, "$.settings.temperature", "at most 2"),
        ("openai", {"temperature": "hot"}, "$.settings.temperature", "must be a number"),
        ("openai", {"max_output_tokens": 1.5}, "$.settings.max_output_tokens", "integer"),
        ("openai", {"max_output_tokens": True}, "$.settings.max_output_tokens", "integer"),
        ("openai", {"thinking_budget": 5}, "$.settings.thinking_budget", "not a setting"),
        (
            "anthropic",
            {"thinking_budget_tokens": 2000},
            "$.settings.thinking_budget_tokens",
            "only allowed when thinking_enabled",
        ),
        (
            "anthropic",
            {"thinking_enabled": True, "thinking_budget_tokens": 5000, "max_tokens": 4096},
            "$.settings.thinking_budget_tokens",
            "less than",
        ),
        (
            "anthropic",
            {"thinking_budget_tokens": 10},
            "$.settings.thinking_budget_tokens",
            "at least 1024",
        ),
        ("gemini", {"thinking_budget": -2}, "$.settings.thinking_budget", "at least -1"),
        ("gemini", {"include_thoughts": "yes"}, "$.settings.include_thoughts", "true or false"),
        ("vertex", {}, "$.settings.project", "required setting is missing"),
        ("vertex", {"project": " "}, "$.settings.project", "non-empty string"),
        ("vllm", {"dtype": "int3"}, "$.settings.dtype", "must be one of"),
        ("vllm", {"gpu_memory_utilization": 1.5}, "$.settings.gpu_memory_utilization", "at most 1"),
        ("vllm", {"mode": "remote"}, "$.base_url", "required when settings.mode is remote"),
    ],
)
def test_bad_settings_name_the_field(
    provider: str, settings: dict[str, Any], field: str, reason: str
) -> None:
    errors = errors_of(provider, settings)
    assert field in errors, errors
    assert reason in errors[field]


def test_good_settings_per_provider() -> None:
    assert errors_of("openai", {"reasoning_effort": "minimal", "verbosity": "low"}) == {}
    assert (
        errors_of(
            "anthropic",
            {"thinking_enabled": True, "thinking_budget_tokens": 2048, "max_tokens": 8000},
        )
        == {}
    )
    assert errors_of("gemini", {"thinking_budget": -1, "include_thoughts": True}) == {}
    assert errors_of("vertex", {"project": "p1", "location": "europe-west4"}) == {}
    assert errors_of("vllm", {"mode": "remote"}, base_url="http://gpu:8000/v1") == {}
    assert "$.base_url" in errors_of("vllm", {}, base_url="http://gpu:8000/v1")


def test_old_schema_versions_stay_checkable() -> None:
    # v1 had no verbosity and no "minimal" effort
    assert "$.settings.verbosity" in errors_of("openai", {"verbosity": "low"}, version=1)
    assert "$.settings.reasoning_effort" in errors_of(
        "openai", {"reasoning_effort": "minimal"}, version=1
    )
    assert errors_of("openai", {}, version=9) == {
        "$.settings_schema_version": "openai has no settings schema v9"
    }


def test_drift_lists_what_is_new() -> None:
    spec = PROVIDERS["openai"]
    assert drift_notice(spec, 2) is None
    notice = drift_notice(spec, 1)
    assert notice is not None
    assert (notice.snapshot_version, notice.current_version) == (1, 2)
    assert notice.new_fields == ["verbosity", "service_tier"]
    assert "review settings" in notice.message


def test_secret_presence(tmp_path: Path) -> None:
    env = {"SET_KEY": "x", "EMPTY_KEY": "", "LLMCTL_SECRETS_DIR": str(tmp_path)}
    assert secret_present(SecretRef(kind="env", name="SET_KEY"), env)
    assert not secret_present(SecretRef(kind="env", name="EMPTY_KEY"), env)
    assert not secret_present(SecretRef(kind="env", name="NOPE"), env)
    (tmp_path / "anthropic-key").write_text("v")
    assert secret_present(SecretRef(kind="secret", name="anthropic-key"), env)
    assert not secret_present(SecretRef(kind="secret", name="other"), env)


def test_secret_checks_per_provider() -> None:
    env: dict[str, str] = {}
    missing = check_secret(PROVIDERS["openai"], None, env)
    assert [(e.field, "OPENAI_API_KEY" in e.reason) for e in missing] == [("$.secret_ref", True)]
    assert check_secret(PROVIDERS["vllm"], None, env) == []
    assert check_secret(PROVIDERS["vertex"], None, env) == []
    absent = check_secret(PROVIDERS["vertex"], SecretRef(kind="env", name="GAC"), env)
    assert absent[0].field == "$.secret_ref.name"
    assert "GAC is not set" in absent[0].reason
