"""Cheap live probes: list the provider's models with the model's credential.

Only OpenAI-compatible endpoints (``openai``, remote ``vllm``) are probed, through the
official ``openai`` SDK; other providers answer ``skipped``. The credential is read only to
authenticate the call and never appears in the result or in a log line.
"""

from __future__ import annotations

import openai

from llmctl_contracts.models import ProbeResult, SecretRef
from llmctl_libs.credentials import read_credential

from .secrets import secret_present

__all__ = ["PROBE_TIMEOUT_SECONDS", "probe_provider"]

PROBE_TIMEOUT_SECONDS = 5.0


def _credential(ref: SecretRef) -> str:
    return read_credential(ref.name if ref.kind == "env" else f"secret:{ref.name}") or ""


async def probe_provider(
    provider: str,
    settings: dict[str, object],
    *,
    base_url: str | None,
    secret_ref: SecretRef | None,
    provider_model_id: str | None,
) -> ProbeResult:
    """Probe ``provider`` once (models list), without retries."""
    if provider not in ("openai", "vllm"):
        return ProbeResult(status="skipped", detail=f"no live probe for {provider}")
    if provider == "vllm" and settings.get("mode") != "remote":
        return ProbeResult(status="skipped", detail="local vLLM engine: nothing to reach")
    if secret_ref is not None and not secret_present(secret_ref):
        return ProbeResult(status="skipped", detail="the credential is not present")
    api_key = _credential(secret_ref) if secret_ref is not None else "unused"
    client = openai.AsyncOpenAI(
        base_url=base_url, api_key=api_key, max_retries=0, timeout=PROBE_TIMEOUT_SECONDS
    )
    try:
        ids = [m.id async for m in client.models.list()]
    except openai.APIStatusError as exc:
        return ProbeResult(status="failed", detail=f"the provider answered HTTP {exc.status_code}")
    except openai.APIError as exc:
        reason = f"the provider is unreachable ({type(exc).__name__})"
        return ProbeResult(status="failed", detail=reason)
    finally:
        await client.close()
    found = None if provider_model_id is None else provider_model_id in ids
    return ProbeResult(
        status="ok", detail=f"the provider lists {len(ids)} models", model_found=found
    )
