"""The table of services the local stack runs: add a service with one line."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["DEFAULT_SERVICES", "GATEWAY_HEALTH_PATH", "ServiceSpec"]

GATEWAY_HEALTH_PATH = "/api/v1/health"


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """How to run one service process.

    Attributes:
        name: Short name (log file ``logs/<name>.log``, ``LLMCTL_SERVICE_NAME``).
        argv: Program (a console script name is looked up in our venv first) and arguments.
        migrate: Run ``argv + ("migrate",)`` to completion before any service starts.
        gateway: The public HTTP gateway: gets ``LLMCTL_GATEWAY_HOST``/``LLMCTL_GATEWAY_PORT``
            and is probed on the gateway port instead of ``LLMCTL_HEALTH_PORT``.
        health_path: Path answered with 200 when healthy.
        env: Extra environment variables for this service only.
    """

    name: str
    argv: tuple[str, ...]
    migrate: bool = False
    gateway: bool = False
    health_path: str = "/healthz"
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def migrate_argv(self) -> tuple[str, ...]:
        """The migration command line."""
        return (*self.argv, "migrate")


DEFAULT_SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("orchestrator", ("llmctl-orchestrator",), migrate=True),
    ServiceSpec("router", ("llmctl-router",), migrate=True),
    ServiceSpec("toolhub", ("llmctl-toolhub",), migrate=True),
    ServiceSpec("models", ("llmctl-models",), migrate=True),
    ServiceSpec("executor-frontier", ("llmctl-executor-frontier",)),
    ServiceSpec("gateway", ("llmctl-gateway",), gateway=True, health_path=GATEWAY_HEALTH_PATH),
)
