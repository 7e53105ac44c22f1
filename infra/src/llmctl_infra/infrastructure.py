"""NATS, Postgres and the demo model for the local stack: embedded or external."""

from __future__ import annotations

import sys
from pathlib import Path

from llmctl_infra.embedded import NatsServer, PostgresServer
from llmctl_infra.ports import LOOPBACK, free_port
from llmctl_infra.service import Endpoints, ServiceProcess
from llmctl_infra.specs import ServiceSpec
from llmctl_infra.state import InfraRecord

__all__ = ["Infrastructure"]


class Infrastructure:
    """Starts what the services need and reports where it is.

    Args:
        home: Stack home (``nats/``, ``postgres/``, ``logs/`` live there).
        nats_url: External NATS; embedded NATS when None.
        database_url: External Postgres (SQLAlchemy URL); embedded Postgres when None.
        demo_llm: Start the offline demo model.
    """

    def __init__(
        self,
        home: Path,
        *,
        nats_url: str | None,
        database_url: str | None,
        demo_llm: bool,
    ) -> None:
        self.home = home
        self.log_dir = home / "logs"
        self._nats_url = nats_url
        self._database_url = database_url
        self.nats: NatsServer | None = None
        self.postgres: PostgresServer | None = None
        self.demo_llm: ServiceProcess | None = None
        self._want_demo = demo_llm
        self.restarts: dict[str, int] = {"nats": 0, "postgres": 0}
        self.started = False

    def start(self, gateway_port: int) -> Endpoints:
        """Start the embedded parts, wait until each is ready, return the endpoints.

        Raises:
            WaitTimeout: A part did not become ready (its log tail is in the message).
        """
        if self._nats_url is None:
            self.nats = NatsServer(self.home / "nats", log_path=self.log_dir / "nats.log")
            self.nats.start()
        if self._database_url is None:
            self.postgres = PostgresServer(
                self.home / "postgres", log_path=self.log_dir / "postgres.log"
            )
            self.postgres.start()
        demo_url = None
        if self._want_demo:
            port = free_port()
            spec = ServiceSpec(
                "demo-llm",
                (
                    sys.executable,
                    "-m",
                    "llmctl_infra.demo_llm",
                    "--host",
                    LOOPBACK,
                    "--port",
                    str(port),
                ),
            )
            self.demo_llm = ServiceProcess(
                spec, Endpoints(self.nats_url, self.database_url), self.log_dir, health_port=port
            )
            self.demo_llm.start()
            self.demo_llm.wait_healthy(60)
            demo_url = f"{self.demo_llm.base_url}/v1"
        self.started = True
        return Endpoints(
            nats_url=self.nats_url,
            database_url=self.database_url,
            gateway_port=gateway_port,
            demo_llm_url=demo_url,
        )

    @property
    def nats_url(self) -> str:
        """NATS client URL."""
        return self.nats.url if self.nats is not None else str(self._nats_url)

    @property
    def database_url(self) -> str:
        """SQLAlchemy URL of the ``llmctl`` database."""
        return (
            self.postgres.sqlalchemy_url() if self.postgres is not None else str(self._database_url)
        )

    def revive(self) -> list[str]:
        """Restart embedded NATS/Postgres/demo model that died; return what was restarted."""
        revived = []
        if self.nats is not None and not self.nats.running():
            self.nats.start()
            self.restarts["nats"] += 1
            revived.append("nats")
        if self.postgres is not None and not self.postgres.running():
            self.postgres.start()
            self.restarts["postgres"] += 1
            revived.append("postgres")
        if self.demo_llm is not None and not self.demo_llm.process.running():
            self.demo_llm.restart()
            revived.append("demo-llm")
        return revived

    def stop(self) -> None:
        """Stop the demo model, Postgres, then NATS (each by its own pid)."""
        if self.demo_llm is not None:
            self.demo_llm.stop()
        if self.postgres is not None:
            self.postgres.stop()
        if self.nats is not None:
            self.nats.stop()

    def records(self) -> dict[str, InfraRecord]:
        """Return the ``state.json`` records (none until :meth:`start` finished)."""
        if not self.started:
            return {}
        nats = InfraRecord("nats", self.nats_url, embedded=self.nats is not None)
        if self.nats is not None:
            nats.pid, nats.create_time = self.nats.pid, self.nats.create_time
            nats.log, nats.restarts = str(self.nats.log_path), self.restarts["nats"]
        postgres = InfraRecord("postgres", self.database_url, embedded=self.postgres is not None)
        if self.postgres is not None:
            postgres.pid, postgres.create_time = self.postgres.pid, self.postgres.create_time
            postgres.log, postgres.restarts = str(self.postgres.log_path), self.restarts["postgres"]
        records = {"nats": nats, "postgres": postgres}
        if self.demo_llm is not None:
            demo = self.demo_llm
            records["demo-llm"] = InfraRecord(
                "demo-llm",
                f"{demo.base_url}/v1",
                embedded=True,
                pid=demo.pid,
                create_time=demo.process.create_time,
                log=str(demo.process.log_path),
                restarts=demo.restarts,
            )
        return records
