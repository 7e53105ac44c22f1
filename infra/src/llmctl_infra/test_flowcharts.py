"""Small builders of flowchart definitions (plain JSON documents) for tests.

Shared by the cross-service end-to-end tests, which otherwise each spelled the same few
shapes; the benchmark's larger workloads live in :mod:`llmctl_infra.bench.workloads`.
"""

from __future__ import annotations

import itertools
from typing import Any

__all__ = ["ALWAYS", "chain", "decision", "edges", "fan", "runs_of", "task"]

ALWAYS: dict[str, Any] = {"op": "exists", "path": "run.id"}
"""A predicate that holds for every run: a decision with it is a pass-through."""


def task(node_id: str, **settings: Any) -> dict[str, Any]:
    """A task node prompted ``do <node_id>``."""
    return {"type": "task", "id": node_id, "prompt": f"do {node_id}", **settings}


def decision(
    node_id: str, *conditions: tuple[str, dict[str, Any]], **settings: Any
) -> dict[str, Any]:
    """A decision node with one structured predicate per ``(connector_id, predicate)``."""
    return {
        "type": "decision",
        "id": node_id,
        "conditions": [{"connector_id": c, "predicate": p} for c, p in conditions],
        **settings,
    }


def edges(*triples: tuple[str, str, str], kind: str = "solid") -> list[dict[str, str]]:
    """Connectors ``(id, source, target)``, all of one ``kind``."""
    return [{"id": c, "source": s, "target": t, "kind": kind} for c, s, t in triples]


def chain(*nodes: dict[str, Any], **settings: Any) -> dict[str, Any]:
    """``start -> nodes... -> end``; connector ``a-b`` joins ``a`` to ``b``."""
    ids = ["start", *(n["id"] for n in nodes), "end"]
    return {
        "name": "chain",
        "nodes": [{"type": "start", "id": "start"}, *nodes, {"type": "end", "id": "end"}],
        "connectors": [
            {"id": f"{a}-{b}", "source": a, "target": b} for a, b in itertools.pairwise(ids)
        ],
        **settings,
    }


def fan(*nodes: dict[str, Any], **settings: Any) -> dict[str, Any]:
    """``start -> every node (in parallel) -> end``, the end joining them; connector ``a-b``
    joins ``a`` to ``b``."""
    ids = [n["id"] for n in nodes]
    return {
        "name": "fan",
        "nodes": [{"type": "start", "id": "start"}, *nodes, {"type": "end", "id": "end"}],
        "connectors": [
            *({"id": f"start-{i}", "source": "start", "target": i} for i in ids),
            *({"id": f"{i}-end", "source": i, "target": "end"} for i in ids),
        ],
        **settings,
    }


def runs_of(node_runs: list[dict[str, Any]], node_id: str) -> list[dict[str, Any]]:
    """The node runs (API records) of ``node_id``, in ``execution_index`` order."""
    return sorted(
        (n for n in node_runs if n["node_id"] == node_id), key=lambda n: n["execution_index"]
    )
