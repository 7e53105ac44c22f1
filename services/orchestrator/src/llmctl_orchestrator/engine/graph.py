"""Indexed view of a flowchart definition for the engine."""

from __future__ import annotations

from dataclasses import dataclass, field

from llmctl_contracts.flowchart import (
    Connector,
    ConnectorKind,
    FanInMode,
    FlowchartDefinition,
    Node,
    StartNode,
)

__all__ = ["FlowchartGraph"]


@dataclass(frozen=True, slots=True)
class FlowchartGraph:
    """Nodes and connectors indexed by id and direction."""

    definition: FlowchartDefinition
    nodes: dict[str, Node] = field(default_factory=dict)
    connectors: dict[str, Connector] = field(default_factory=dict)
    solid_in: dict[str, list[Connector]] = field(default_factory=dict)
    solid_out: dict[str, list[Connector]] = field(default_factory=dict)
    dotted_in: dict[str, list[Connector]] = field(default_factory=dict)

    @classmethod
    def build(cls, definition: FlowchartDefinition) -> FlowchartGraph:
        """Index ``definition`` (assumed valid)."""
        graph = cls(definition=definition)
        for node in definition.nodes:
            graph.nodes[node.id] = node
            graph.solid_in[node.id] = []
            graph.solid_out[node.id] = []
            graph.dotted_in[node.id] = []
        for conn in definition.connectors:
            graph.connectors[conn.id] = conn
            if conn.kind is ConnectorKind.SOLID:
                graph.solid_out[conn.source].append(conn)
                graph.solid_in[conn.target].append(conn)
            else:
                graph.dotted_in[conn.target].append(conn)
        return graph

    @property
    def start(self) -> Node:
        """The single start node."""
        return next(n for n in self.nodes.values() if isinstance(n, StartNode))

    def threshold(self, node_id: str) -> int:
        """How many distinct solid parents must hold a token to activate ``node_id``."""
        parents = len({c.source for c in self.solid_in[node_id]})
        policy = self.nodes[node_id].fan_in
        if policy.mode is FanInMode.ANY:
            return min(1, parents)
        if policy.mode is FanInMode.CUSTOM:
            return max(1, min(policy.count or parents, parents))
        return parents
