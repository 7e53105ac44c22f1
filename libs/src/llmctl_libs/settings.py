"""Service settings read from the environment (``LLMCTL_*``)."""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["ServiceSettings"]


@dataclass(frozen=True, slots=True)
class ServiceSettings:
    """Settings every service process reads at start-up.

    Attributes:
        service: Service name (``orchestrator``, ``router``, ...).
        nats_url: ``LLMCTL_NATS_URL``.
        database_url: ``LLMCTL_DATABASE_URL`` (SQLAlchemy URL, ``postgresql+psycopg://``).
        health_port: ``LLMCTL_HEALTH_PORT``; 0 disables the HTTP health endpoint.
        log_level: ``LLMCTL_LOG_LEVEL``.
    """

    service: str
    nats_url: str
    database_url: str
    health_port: int
    log_level: str

    @classmethod
    def from_env(cls, service: str) -> ServiceSettings:
        """Read settings for ``service`` from ``os.environ``."""
        return cls(
            service=service,
            nats_url=os.environ.get("LLMCTL_NATS_URL", "nats://127.0.0.1:4222"),
            database_url=os.environ.get(
                "LLMCTL_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/llmctl"
            ),
            health_port=int(os.environ.get("LLMCTL_HEALTH_PORT", "0")),
            log_level=os.environ.get("LLMCTL_LOG_LEVEL", "INFO"),
        )
