"""Flowcharts the benchmark runs: chains of no-op nodes (deterministic, no LLM)."""

from __future__ import annotations

from typing import Any

__all__ = ["noop_chain"]


def noop_chain(length: int) -> dict[str, Any]:
    """``start -> n1 -> ... -> n<length> -> end`` where each ``n`` is a pass-through decision.

    Each hop costs what every node hop costs (orchestrator step, router decision, two outbox
    relays over JetStream) without an executor or model call.
    """
    always = {"op": "exists", "path": "run.id"}
    nodes: list[dict[str, Any]] = [{"type": "start", "id": "start"}]
    connectors: list[dict[str, Any]] = []
    previous = "start"
    for i in range(1, length + 1):
        node_id = f"n{i}"
        connectors.append({"id": f"c{i}", "source": previous, "target": node_id})
        nodes.append({"type": "decision", "id": node_id, "conditions": []})
        previous = node_id
    nodes.append({"type": "end", "id": "end"})
    connectors.append({"id": "c-end", "source": previous, "target": "end"})
    # each decision's only condition targets its one outgoing connector
    outgoing = {c["source"]: c["id"] for c in connectors}
    for node in nodes:
        if node["type"] == "decision":
            node["conditions"] = [{"connector_id": outgoing[node["id"]], "predicate": always}]
    return {
        "name": f"bench-chain-{length}",
        "nodes": nodes,
        "connectors": connectors,
        "limits": {"max_node_executions": length + 10},
    }
