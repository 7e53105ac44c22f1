"""vLLM: a local engine run by the vLLM executor, or a remote OpenAI-compatible server."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llmctl_contracts import FieldError
from llmctl_contracts.models import SettingField

from .base import ProviderSpec, schema_versions

__all__ = ["VLLM"]


def _mode_and_base_url(settings: Mapping[str, Any], base_url: str | None) -> list[FieldError]:
    if settings["mode"] == "remote" and base_url is None:
        return [FieldError(field="$.base_url", reason="required when settings.mode is remote")]
    if settings["mode"] == "local" and base_url is not None:
        return [FieldError(field="$.base_url", reason="only allowed when settings.mode is remote")]
    return []


VLLM = ProviderSpec(
    name="vllm",
    display_name="vLLM",
    description="vLLM engine in the vLLM executor (local) or an OpenAI-compatible server (remote)",
    executor="vllm",
    secret="optional",
    secret_hint="VLLM_API_KEY",
    versions=schema_versions(
        [
            SettingField(
                name="mode",
                type="enum",
                description="local: the executor runs the engine; remote: call base_url",
                choices=["local", "remote"],
                default="local",
            ),
            SettingField(
                name="dtype",
                type="enum",
                description="Weights/activations dtype (local)",
                choices=["auto", "float16", "bfloat16", "float32"],
                default="auto",
                advanced=True,
            ),
            SettingField(
                name="max_model_len",
                type="integer",
                description="Context length (local)",
                minimum=256,
                maximum=1_048_576,
                advanced=True,
            ),
            SettingField(
                name="gpu_memory_utilization",
                type="number",
                description="Fraction of GPU memory the engine may use (local)",
                default=0.9,
                minimum=0.05,
                maximum=1.0,
                advanced=True,
            ),
            SettingField(
                name="temperature",
                type="number",
                description="Sampling temperature",
                default=0.2,
                minimum=0,
                maximum=2,
            ),
            SettingField(
                name="max_tokens",
                type="integer",
                description="Upper bound on generated tokens",
                default=2048,
                minimum=1,
                maximum=1_048_576,
            ),
            SettingField(
                name="request_timeout_seconds",
                type="integer",
                description="Per-request timeout",
                default=180,
                minimum=1,
                maximum=3600,
                advanced=True,
            ),
        ]
    ),
    cross_check=_mode_and_base_url,
)
