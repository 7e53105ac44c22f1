"""``state.json``: what the supervisor started, for ``llmctl status``/``down``/``logs``."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["STATE_FILE", "InfraRecord", "ServiceRecord", "StackState"]

STATE_FILE = "state.json"


@dataclass(slots=True)
class InfraRecord:
    """NATS, Postgres or the demo model.

    Attributes:
        name: ``nats``, ``postgres`` or ``demo-llm``.
        url: Client URL (SQLAlchemy URL for Postgres, OpenAI base URL for the demo model).
        embedded: Started by us (else external: no pid).
        pid: Process id when embedded.
        create_time: psutil create time of ``pid`` (guards against pid reuse).
        log: Log file when embedded.
        restarts: Times the supervisor restarted it.
    """

    name: str
    url: str
    embedded: bool
    pid: int | None = None
    create_time: float | None = None
    log: str | None = None
    restarts: int = 0


@dataclass(slots=True)
class ServiceRecord:
    """One supervised service process.

    Attributes:
        name: Service name.
        pid: Current process id.
        create_time: psutil create time of ``pid``.
        health_url: URL probed for health.
        state: ``starting``, ``running``, ``restarting``, ``stopped`` or ``failed``.
        restarts: Times the supervisor restarted it.
        log: Log file.
    """

    name: str
    health_url: str
    log: str
    pid: int | None = None
    create_time: float | None = None
    state: str = "starting"
    restarts: int = 0


@dataclass(slots=True)
class StackState:
    """The whole ``state.json`` document.

    Attributes:
        home: Stack home directory.
        phase: ``starting``, ``running``, ``stopping``, ``stopped`` or ``failed``.
        supervisor_pid: PID of the supervisor process.
        supervisor_create_time: Its psutil create time.
        gateway_url: Base URL of the gateway.
        infra: Infrastructure records by name.
        services: Service records by name, in start order.
        error: Why the stack failed, when it did.
        updated_at: Unix time of the last write.
    """

    home: str
    phase: str = "starting"
    supervisor_pid: int | None = None
    supervisor_create_time: float | None = None
    gateway_url: str | None = None
    infra: dict[str, InfraRecord] = field(default_factory=dict)
    services: dict[str, ServiceRecord] = field(default_factory=dict)
    error: str | None = None
    updated_at: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StackState:
        """Parse the form written by :meth:`to_dict`."""
        data = dict(data)
        infra = {k: InfraRecord(**v) for k, v in data.pop("infra", {}).items()}
        services = {k: ServiceRecord(**v) for k, v in data.pop("services", {}).items()}
        return cls(**data, infra=infra, services=services)

    def write(self, path: Path) -> None:
        """Write atomically (temp file + rename) so readers never see half a document."""
        self.updated_at = time.time()
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_suffix(f".{os.getpid()}.tmp")
        temp.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        os.replace(temp, path)

    @classmethod
    def read(cls, path: Path) -> StackState | None:
        """Read ``path``; None when it does not exist."""
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        return cls.from_dict(json.loads(text))
