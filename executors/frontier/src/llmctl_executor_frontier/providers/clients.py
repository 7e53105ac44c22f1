"""SDK clients kept per endpoint and credential reference (the credential is read once, when
the client is made, and never logged)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from llmctl_libs.credentials import read_credential

from .base import ProviderUnavailable

__all__ = ["ClientsByCredential"]

C = TypeVar("C")


class ClientsByCredential(Generic[C]):
    """One SDK client per ``(base_url, api_key_ref)``, made by ``make(base_url, api_key)``."""

    def __init__(self, make: Callable[[str | None, str], C]) -> None:
        self._make = make
        self._clients: dict[tuple[str | None, str | None], C] = {}

    def get(self, base_url: str | None, api_key_ref: str | None) -> C:
        """The client for this endpoint and credential.

        Raises:
            ProviderUnavailable: the credential reference is unset or empty here.
        """
        key = (base_url, api_key_ref)
        client = self._clients.get(key)
        if client is None:
            api_key = read_credential(api_key_ref)
            if not api_key:
                raise ProviderUnavailable(
                    f"credential reference {api_key_ref!r} is not set in the executor environment"
                )
            client = self._make(base_url, api_key)
            self._clients[key] = client
        return client
