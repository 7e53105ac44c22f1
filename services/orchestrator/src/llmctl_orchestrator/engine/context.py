"""Input context of an activation: consumed tokens' outputs + dotted sources + metadata."""

from __future__ import annotations

from typing import Any

from .activation import Activation
from .graph import FlowchartGraph
from .state import RunState

__all__ = ["build_context"]


def build_context(
    state: RunState,
    graph: FlowchartGraph,
    activation: Activation,
    *,
    run: dict[str, Any],
    node_run_id: str,
) -> dict[str, Any]:
    """Build the recorded input context of one node run (full payload pass-through)."""
    upstream = [
        {
            "node_id": token.source_node_id,
            "node_run_id": token.source_node_run_id,
            "connector_id": token.connector_id,
            "output": state.outputs.get(token.source_node_run_id, {}),
        }
        for token in activation.consumed
    ]
    dotted: dict[str, Any] = {}
    for connector in graph.dotted_in[activation.node_id]:
        source_run = state.latest_by_node.get(connector.source)
        if source_run is not None:
            dotted[connector.source] = {
                "node_run_id": source_run,
                "connector_id": connector.id,
                "output": state.outputs.get(source_run, {}),
            }
    node = graph.nodes[activation.node_id]
    return {
        "run": run,
        "node": {
            "id": node.id,
            "type": type(node).__struct_config__.tag,
            "title": node.title,
            "node_run_id": node_run_id,
            "execution_index": activation.execution_index,
        },
        "upstream_nodes": upstream,
        "latest_upstream": upstream[-1] if upstream else None,
        "dotted_upstream_nodes": dotted,
    }
