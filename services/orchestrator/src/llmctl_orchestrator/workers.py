"""Which worker class runs a node, and telling workers to stop node runs."""

from __future__ import annotations

from llmctl_contracts import encode, subjects
from llmctl_contracts.events import NodeCancelRequested
from llmctl_contracts.flowchart import Node
from llmctl_libs.bus import Bus

__all__ = ["tell_workers_to_stop", "worker_for"]


def worker_for(node: Node) -> str:
    """Which worker class executes a non-inline node."""
    executor_class = getattr(node, "executor_class", None)
    return executor_class if isinstance(executor_class, str) else "toolhub"


async def tell_workers_to_stop(bus: Bus, run_id: str, attempts: dict[str, int]) -> None:
    """Best-effort broadcast: workers running these attempts (node run id -> attempt) stop
    them; a later attempt of the same node run is left alone."""
    if attempts:
        notice = NodeCancelRequested(
            run_id=run_id, node_run_ids=sorted(attempts), attempts=dict(attempts)
        )
        await bus.nc.publish(subjects.cancel_broadcast(), encode(notice))
