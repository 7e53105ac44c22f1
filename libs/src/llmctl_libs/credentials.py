"""Credential references, resolved only where a provider is called, never stored or logged.

A model binding carries ``api_key_ref``: the name of an environment variable, or
``secret:<name>`` for a file ``<name>`` in ``LLMCTL_SECRETS_DIR`` (default
``/var/run/secrets/llmctl``, e.g. a mounted Kubernetes secret).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

__all__ = ["DEFAULT_SECRETS_DIR", "SECRETS_DIR_ENV", "read_credential", "secret_path"]

SECRETS_DIR_ENV = "LLMCTL_SECRETS_DIR"
DEFAULT_SECRETS_DIR = "/var/run/secrets/llmctl"
_SECRET_PREFIX = "secret:"


def secret_path(name: str, environ: Mapping[str, str] | None = None) -> Path:
    """Where the mounted secret ``name`` lives."""
    env = os.environ if environ is None else environ
    return Path(env.get(SECRETS_DIR_ENV, DEFAULT_SECRETS_DIR)) / name


def read_credential(
    api_key_ref: str | None, environ: Mapping[str, str] | None = None
) -> str | None:
    """The credential ``api_key_ref`` points at, or ``None`` when it is unset or empty."""
    if not api_key_ref:
        return None
    env = os.environ if environ is None else environ
    if api_key_ref.startswith(_SECRET_PREFIX):
        path = secret_path(api_key_ref.removeprefix(_SECRET_PREFIX), env)
        try:
            value = path.read_text().strip()
        except OSError:
            return None
        return value or None
    return env.get(api_key_ref) or None
