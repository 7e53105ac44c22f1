"""Orchestrator test helpers: a pure driver of the token engine (the coordinator's steps without
I/O), and a database with the orchestrator's schema (real Postgres)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest

from llmctl_contracts import MessageType, NodeRunStatus
from llmctl_contracts.errors import ErrorBody, ErrorCode
from llmctl_contracts.events import NodeFailed, NodeQueued, NodeRouted, NodeSucceeded
from llmctl_contracts.flowchart import FlowchartDefinition
from llmctl_contracts.routing import RoutingState
from llmctl_libs.store import Database
from llmctl_libs.testing.database import database_with
from llmctl_orchestrator.engine import (
    Activation,
    FlowchartGraph,
    RunEvent,
    RunState,
    evolve,
    fired_targets,
    next_activation,
    start_activation,
)
from llmctl_orchestrator.tables import metadata


def build_graph(
    nodes: list[dict[str, Any]], connectors: list[tuple[str, str, str]], **extra: Any
) -> FlowchartGraph:
    """A graph from nodes and ``(id, source, target)`` solid connectors."""
    doc = {
        "name": "t",
        "nodes": nodes,
        "connectors": [{"id": c, "source": s, "target": t} for c, s, t in connectors],
        **extra,
    }
    return FlowchartGraph.build(msgspec.convert(doc, FlowchartDefinition))


class EngineDriver:
    """Applies the same events the coordinator emits, recording them for replay."""

    def __init__(self, graph: FlowchartGraph) -> None:
        self.graph = graph
        self.state = RunState()
        self.events: list[RunEvent] = []
        self.activations: dict[str, Activation] = {}

    def emit(self, type_name: str, payload: Any) -> None:
        evolve(self.state, self.graph, type_name, payload)
        self.events.append(RunEvent(len(self.events) + 1, type_name, payload))

    def queue(self, activation: Activation) -> str:
        node_run_id = f"{activation.node_id}#{activation.execution_index}"
        self.activations[node_run_id] = activation
        self.emit(
            MessageType.NODE_QUEUED,
            NodeQueued(
                node_run_id=node_run_id,
                node_id=activation.node_id,
                node_type="task",
                execution_index=activation.execution_index,
                consumed_connector_ids=[t.connector_id for t in activation.consumed],
                input_context={},
            ),
        )
        return node_run_id

    def start(self) -> str:
        return self.queue(start_activation(self.state, self.graph))

    def succeed(self, node_run_id: str, output: dict[str, Any] | None = None) -> None:
        self.emit(
            MessageType.NODE_SUCCEEDED,
            NodeSucceeded(
                node_run_id=node_run_id,
                node_id=self.activations[node_run_id].node_id,
                status=NodeRunStatus.SUCCEEDED,
                output=output or {"from": node_run_id},
            ),
        )

    def fail(self, node_run_id: str) -> None:
        self.emit(
            MessageType.NODE_FAILED,
            NodeFailed(
                node_run_id=node_run_id,
                node_id=self.activations[node_run_id].node_id,
                error=ErrorBody(code=ErrorCode.INTERNAL, message="boom"),
            ),
        )

    def route(self, node_run_id: str, fired: list[str]) -> list[Activation]:
        """Record the routing decision, then queue every activation it makes ready."""
        targets = fired_targets(self.graph, fired)
        self.emit(
            MessageType.NODE_ROUTED,
            NodeRouted(
                node_run_id=node_run_id,
                node_id=self.activations[node_run_id].node_id
                if node_run_id in self.activations
                else "external",
                routing_state=RoutingState(matched_connector_ids=fired),
            ),
        )
        made: list[Activation] = []
        for target in targets:
            while (activation := next_activation(self.state, self.graph, target)) is not None:
                self.queue(activation)
                made.append(activation)
        return made


@pytest.fixture(scope="session")
def driver() -> type[EngineDriver]:
    """The EngineDriver class."""
    return EngineDriver


@pytest.fixture(scope="session")
def graph_of() -> Any:
    """``build_graph``."""
    return build_graph


@pytest.fixture
async def orchestrator_db(database_url: str) -> AsyncIterator[Database]:
    """A database with the orchestrator's tables (created from the metadata)."""
    async with database_with(database_url, metadata) as database:
        yield database
