"""Node-run artifacts: exactly one final-state record per node run, typed by node kind."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import msgspec

__all__ = ["ARTIFACT_KIND_BY_NODE_TYPE", "ArtifactKind", "ArtifactRecord", "ListArtifacts"]


class ArtifactKind(StrEnum):
    """What an artifact holds, by the kind of node that produced it."""

    RUN_INPUT = "run_input"
    RUN_OUTPUT = "run_output"
    TASK_RESULT = "task_result"
    DECISION_EVALUATION = "decision_evaluation"
    MEMORY_RECORDS = "memory_records"
    PLAN_STATE = "plan_state"
    MILESTONE_STATE = "milestone_state"
    RAG_RESULT = "rag_result"
    FLOWCHART_REF = "flowchart_ref"


ARTIFACT_KIND_BY_NODE_TYPE: dict[str, ArtifactKind] = {
    "start": ArtifactKind.RUN_INPUT,
    "end": ArtifactKind.RUN_OUTPUT,
    "task": ArtifactKind.TASK_RESULT,
    "decision": ArtifactKind.DECISION_EVALUATION,
    "memory": ArtifactKind.MEMORY_RECORDS,
    "plan": ArtifactKind.PLAN_STATE,
    "milestone": ArtifactKind.MILESTONE_STATE,
    "rag": ArtifactKind.RAG_RESULT,
    "flowchart": ArtifactKind.FLOWCHART_REF,
}
"""The artifact kind of each node type."""


class ArtifactRecord(msgspec.Struct, frozen=True, kw_only=True):
    """The final-state artifact of one node run.

    Attributes:
        id: ``art_<node_run_id>``.
        kind: What ``content`` holds (:class:`ArtifactKind`).
        status: The node run's final status.
        content: ``output``, ``routing_state``, ``error``, ``warnings`` as the node run ended,
            and ``detail``: what the worker reported (a task's prompt, model and usage; a
            special node's domain state). ``None`` when listed without content.
        content_sha256: Hash of the canonical content (changes only when the content does).
        size_bytes: Size of the canonical content.
        idempotency_key: ``artifact:<node_run_id>``: one artifact per node run, ever.
        request_id: Request that made the node run final.
        correlation_id: The run's correlation id.
        superseded: The node run was superseded by a rewind.
    """

    id: str
    run_id: str
    node_run_id: str
    node_id: str
    node_type: str
    kind: ArtifactKind
    status: str
    content_sha256: str
    size_bytes: int
    idempotency_key: str
    correlation_id: str
    created_at: str
    updated_at: str
    request_id: str | None = None
    superseded: bool = False
    content: dict[str, Any] | None = None


class ListArtifacts(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A run's artifacts (optionally one node run's), oldest node run first.

    ``include_content`` false lists metadata only (cheap); ``limit`` and ``offset`` page.
    """

    run_id: str
    node_run_id: str | None = None
    kind: ArtifactKind | None = None
    include_content: bool = True
    limit: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 200
    offset: Annotated[int, msgspec.Meta(ge=0)] = 0
