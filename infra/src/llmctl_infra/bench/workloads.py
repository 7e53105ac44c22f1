"""Flowcharts the benchmark runs: no-op chains, a wide fan-out/fan-in and a long loop.

Every node besides start and end is a pass-through ``decision`` (deterministic, no LLM): a hop
costs what every node hop costs (orchestrator step, router decision, two outbox relays over
JetStream) without an executor or model call.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "HARD_EXECUTION_CAP",
    "MAX_FAN_OUT",
    "MAX_PARALLEL_NODES",
    "counted_loop",
    "fan_out_fan_in",
    "loop_iterations",
    "noop_chain",
]

HARD_EXECUTION_CAP = 10_000
"""Node executions per run the orchestrator allows at most (start and end included)."""
MAX_PARALLEL_NODES = 1_000
"""The schema's upper bound for ``limits.max_parallel_nodes``."""
MAX_FAN_OUT = 4_997
"""Widest fan-out that fits the schema's 5,000 nodes (start, join and end besides)."""

ALWAYS: dict[str, Any] = {"op": "exists", "path": "run.id"}
"""A predicate that holds for every run: makes a decision a pass-through."""
LOOP_INDEX_PATH = "node.execution_index"
"""Where a decision finds its own execution index (0-based) in its input context."""


def _noop(node_id: str, connector_id: str, **extra: Any) -> dict[str, Any]:
    """A decision whose one always-true condition fires its one outgoing connector."""
    return {
        "type": "decision",
        "id": node_id,
        "conditions": [{"connector_id": connector_id, "predicate": ALWAYS}],
        **extra,
    }


def noop_chain(length: int) -> dict[str, Any]:
    """``start -> n1 -> ... -> n<length> -> end`` where each ``n`` is a pass-through decision."""
    nodes: list[dict[str, Any]] = [{"type": "start", "id": "start"}]
    connectors: list[dict[str, Any]] = []
    previous = "start"
    for i in range(1, length + 1):
        node_id = f"n{i}"
        connectors.append({"id": f"c{i}", "source": previous, "target": node_id})
        previous = node_id
    connectors.append({"id": "c-end", "source": previous, "target": "end"})
    # each decision's only condition targets its one outgoing connector
    outgoing = {c["source"]: c["id"] for c in connectors}
    nodes += [_noop(f"n{i}", outgoing[f"n{i}"]) for i in range(1, length + 1)]
    nodes.append({"type": "end", "id": "end"})
    return {
        "name": f"bench-chain-{length}",
        "nodes": nodes,
        "connectors": connectors,
        "limits": {"max_node_executions": length + 10},
    }


def fan_out_fan_in(width: int) -> dict[str, Any]:
    """``start -> f1..f<width> (parallel) -> join (fan-in all) -> end``.

    The start fires all ``width`` connectors at once; every ``f`` is a pass-through decision;
    ``join`` (also a pass-through decision) activates once, when all ``width`` parents hold a
    token. A run makes ``width + 3`` node executions.
    """
    if not 1 <= width <= MAX_FAN_OUT:
        raise ValueError(f"fan-out width must be between 1 and {MAX_FAN_OUT}, got {width}")
    nodes: list[dict[str, Any]] = [{"type": "start", "id": "start"}]
    connectors: list[dict[str, Any]] = []
    for i in range(1, width + 1):
        connectors.append({"id": f"out{i}", "source": "start", "target": f"f{i}"})
        connectors.append({"id": f"in{i}", "source": f"f{i}", "target": "join"})
        nodes.append(_noop(f"f{i}", f"in{i}"))
    connectors.append({"id": "c-end", "source": "join", "target": "end"})
    nodes.append(_noop("join", "c-end", fan_in={"mode": "all"}))
    nodes.append({"type": "end", "id": "end"})
    return {
        "name": f"bench-fanout-{width}",
        "nodes": nodes,
        "connectors": connectors,
        "limits": {
            "max_node_executions": width + 3,
            "max_parallel_nodes": MAX_PARALLEL_NODES,
        },
    }


def loop_iterations(executions: int) -> int:
    """Iterations of :func:`counted_loop` that keep a run at or under ``executions``."""
    return (min(executions, HARD_EXECUTION_CAP) - 2) // 2


def counted_loop(executions: int) -> dict[str, Any]:
    """``start -> a -> loop``, where ``loop`` goes back to ``a`` M-1 times, then to ``end``.

    ``a`` and ``loop`` are decisions; ``a`` has two solid parents (start and loop), so it fans
    in on ``any`` of them. ``loop`` reads its own 0-based execution index: it fires ``back``
    while the index is below M-1 and ``exit`` from then on; the two conditions are exact
    complements, so exactly one fires (the router fires every matching connector). A run makes
    ``2*M + 2`` node executions with M = (``executions`` - 2) // 2, i.e. at or just under
    ``executions`` (and never over the 10,000 hard cap).
    """
    iterations = loop_iterations(executions)
    if iterations < 1:
        raise ValueError(f"a loop needs at least 4 node executions, got {executions}")
    last = iterations - 1  # the loop's execution index on the final pass
    total = 2 * iterations + 2
    nodes: list[dict[str, Any]] = [
        {"type": "start", "id": "start"},
        _noop("a", "c-a", fan_in={"mode": "any"}),
        {
            "type": "decision",
            "id": "loop",
            "conditions": [
                {
                    "connector_id": "back",
                    "predicate": {"op": "lt", "path": LOOP_INDEX_PATH, "value": last},
                },
                {
                    "connector_id": "exit",
                    "predicate": {"op": "gte", "path": LOOP_INDEX_PATH, "value": last},
                },
            ],
        },
        {"type": "end", "id": "end"},
    ]
    connectors = [
        {"id": "c-start", "source": "start", "target": "a"},
        {"id": "c-a", "source": "a", "target": "loop"},
        {"id": "back", "source": "loop", "target": "a"},
        {"id": "exit", "source": "loop", "target": "end"},
    ]
    return {
        "name": f"bench-loop-{total}",
        "nodes": nodes,
        "connectors": connectors,
        "limits": {"max_node_executions": total},
    }
