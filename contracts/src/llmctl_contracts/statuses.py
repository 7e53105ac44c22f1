"""Run and node-run statuses."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["TERMINAL_NODE_STATUSES", "TERMINAL_RUN_STATUSES", "NodeRunStatus", "RunStatus"]


class RunStatus(StrEnum):
    """Lifecycle of a run."""

    QUEUED = "queued"
    RUNNING = "running"
    PAUSING = "pausing"
    PAUSED = "paused"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class NodeRunStatus(StrEnum):
    """Lifecycle of one node run (one activation of a node)."""

    QUEUED = "queued"
    DISPATCHED = "dispatched"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    SUCCEEDED_WITH_WARNING = "succeeded_with_warning"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"


TERMINAL_RUN_STATUSES = frozenset({RunStatus.CANCELLED, RunStatus.SUCCEEDED, RunStatus.FAILED})
TERMINAL_NODE_STATUSES = frozenset(
    {
        NodeRunStatus.SUCCEEDED,
        NodeRunStatus.SUCCEEDED_WITH_WARNING,
        NodeRunStatus.FAILED,
        NodeRunStatus.CANCELLED,
        NodeRunStatus.SKIPPED,
    }
)
