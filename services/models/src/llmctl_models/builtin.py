"""Built-in model records registered at start-up from the environment.

Secrets are never read here: a model stores the *name* of the environment variable that holds
its key (``api_key_ref``); only the executor reads the variable, at call time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["OFFLINE_DEMO_MODEL", "BuiltinModel", "builtin_models"]

OFFLINE_DEMO_MODEL = "offline-demo"


@dataclass(frozen=True, slots=True)
class BuiltinModel:
    """A model record the service keeps in sync with its environment."""

    name: str
    provider: str
    provider_model_id: str
    base_url: str | None
    api_key_ref: str | None


def builtin_models(environ: dict[str, str] | None = None) -> list[BuiltinModel]:
    """Models implied by the environment; the first one is the default.

    ``LLMCTL_DEMO_LLM_URL`` registers the offline demo model (a local OpenAI-compatible
    endpoint started by ``llmctl up`` when no provider key is configured); ``OPENAI_API_KEY``
    being present registers an OpenAI model named ``openai-default``.
    """
    env = os.environ if environ is None else environ
    found: list[BuiltinModel] = []
    if env.get("OPENAI_API_KEY"):
        found.append(
            BuiltinModel(
                name="openai-default",
                provider="openai",
                provider_model_id=env.get("LLMCTL_OPENAI_DEFAULT_MODEL", "gpt-4.1-mini"),
                base_url=env.get("OPENAI_BASE_URL"),
                api_key_ref="OPENAI_API_KEY",
            )
        )
    if env.get("LLMCTL_DEMO_LLM_URL"):
        found.append(
            BuiltinModel(
                name=OFFLINE_DEMO_MODEL,
                provider="openai",
                provider_model_id=OFFLINE_DEMO_MODEL,
                base_url=env["LLMCTL_DEMO_LLM_URL"],
                api_key_ref="LLMCTL_DEMO_LLM_API_KEY",
            )
        )
    return found
