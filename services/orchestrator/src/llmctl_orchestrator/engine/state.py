"""Serializable run state kept beside the run projection (rebuildable from events)."""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["RunState", "Token"]


class Token(msgspec.Struct, kw_only=True):
    """A token on a solid connector, carrying the source node run's output (by reference)."""

    seq: int
    connector_id: str
    source_node_id: str
    source_node_run_id: str


class RunState(msgspec.Struct, kw_only=True):
    """Everything the engine needs to decide the next activations of one run.

    Attributes:
        tokens: target node id -> source node id -> tokens, oldest first.
        outputs: node run id -> output, kept while a token or a dotted reader needs it.
        latest_by_node: node id -> latest succeeded node run id (dotted context).
        execution_counts: node id -> number of node runs created.
        open_node_runs: node run ids queued/dispatched/awaiting routing.
        held: node runs activated while the run was pausing/paused, dispatched on resume.
        in_flight: node runs dispatched to a worker and not yet reported (max parallel nodes).
        waiting: node runs ready to dispatch but over the parallel limit, oldest first.
        node_executions: total node runs created.
        token_seq: last token sequence number handed out.
        terminated: a ``terminate_run`` routing state was seen.
    """

    tokens: dict[str, dict[str, list[Token]]] = msgspec.field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)
    latest_by_node: dict[str, str] = msgspec.field(default_factory=dict)
    execution_counts: dict[str, int] = msgspec.field(default_factory=dict)
    open_node_runs: list[str] = msgspec.field(default_factory=list)
    held: list[str] = msgspec.field(default_factory=list)
    in_flight: list[str] = msgspec.field(default_factory=list)
    waiting: list[str] = msgspec.field(default_factory=list)
    node_executions: int = 0
    token_seq: int = 0
    terminated: bool = False
