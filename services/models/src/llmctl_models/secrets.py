"""Credential references: their presence is checked; their values are never read into state.

``env`` references name an environment variable of the models service (the executors get the
same environment); ``secret`` references name a file in ``LLMCTL_SECRETS_DIR`` (default
``/var/run/secrets/llmctl``), e.g. a mounted Kubernetes secret. Only presence is checked.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from llmctl_contracts import FieldError
from llmctl_contracts.models import SecretRef
from llmctl_libs.credentials import DEFAULT_SECRETS_DIR, secret_path

from .providers import ProviderSpec

__all__ = ["DEFAULT_SECRETS_DIR", "check_secret", "secret_present"]


def secret_present(ref: SecretRef, environ: Mapping[str, str] | None = None) -> bool:
    """Whether the credential ``ref`` points at exists (non-empty), without keeping it."""
    env = os.environ if environ is None else environ
    if ref.kind == "env":
        return bool(env.get(ref.name))
    path = secret_path(ref.name, env)
    return path.is_file() and path.stat().st_size > 0


def check_secret(
    provider: ProviderSpec, ref: SecretRef | None, environ: Mapping[str, str] | None = None
) -> list[FieldError]:
    """Problems with a model's credential reference for ``provider``."""
    if ref is None:
        if provider.secret == "required":
            hint = f" (e.g. {{kind: env, name: {provider.secret_hint}}})"
            return [
                FieldError(
                    field="$.secret_ref",
                    reason=f"{provider.name} models need a credential reference{hint}",
                )
            ]
        return []
    if provider.secret == "none":
        return [FieldError(field="$.secret_ref", reason=f"{provider.name} takes no credential")]
    if secret_present(ref, environ):
        return []
    where = (
        f"environment variable {ref.name} is not set in the models service environment"
        if ref.kind == "env"
        else f"secret {ref.name} is not present in the secrets directory"
    )
    return [FieldError(field="$.secret_ref.name", reason=where)]
