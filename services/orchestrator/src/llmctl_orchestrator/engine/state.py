"""Run state: the fold of a run's events (see ``evolve``), saved beside the run projection."""

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

    Only ``evolve`` changes it, one event at a time, so the state saved with the run always
    equals the fold of the run's events.

    Attributes:
        tokens: target node id -> source node id -> tokens, oldest first.
        outputs: node run id -> output, kept while a token or a dotted reader needs it.
        latest_by_node: node id -> latest succeeded node run id (dotted context).
        execution_counts: node id -> number of node runs created.
        open_node_runs: node run ids queued/dispatched/awaiting routing.
        ready: open node runs waiting to be dispatched (over the parallel limit, or the run
            is pausing/paused), oldest first.
        in_flight: node runs dispatched to a worker and not yet reported (max parallel nodes).
        attempts_before: node run id -> attempts made before a control request re-queued it
            (its retry budget starts again from there).
        interrupted: node runs cancelled when the run failed (a node retry/skip re-queues them).
        failed_node_run_id: the node run that failed the run, while it is failed.
        node_executions: total node runs created.
        token_seq: last token sequence number handed out.
        terminated: a ``terminate_run`` routing state was seen.
        pause_request_id: the request id of the pause in effect (the ``paused`` event that
            settles it names the request, not the message that happened to settle it).
    """

    tokens: dict[str, dict[str, list[Token]]] = msgspec.field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)
    latest_by_node: dict[str, str] = msgspec.field(default_factory=dict)
    execution_counts: dict[str, int] = msgspec.field(default_factory=dict)
    open_node_runs: list[str] = msgspec.field(default_factory=list)
    ready: list[str] = msgspec.field(default_factory=list)
    in_flight: list[str] = msgspec.field(default_factory=list)
    attempts_before: dict[str, int] = msgspec.field(default_factory=dict)
    interrupted: list[str] = msgspec.field(default_factory=list)
    failed_node_run_id: str | None = None
    node_executions: int = 0
    token_seq: int = 0
    terminated: bool = False
    pause_request_id: str | None = None
