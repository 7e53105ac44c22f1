"""Embedded infrastructure servers (NATS with JetStream, Postgres) run as child processes."""

from llmctl_infra.embedded.nats import NatsServer
from llmctl_infra.embedded.postgres import PostgresServer

__all__ = ["NatsServer", "PostgresServer"]
