"""Workers' reports: one ``node.executed`` event per node-run attempt, published directly.

Workers hold no database; the report's key is derived from the node run and attempt, so a
report re-sent after a crash is dropped by JetStream or by the orchestrator's inbox.
"""

from __future__ import annotations

from llmctl_contracts import Envelope, MessageType, encode, subjects
from llmctl_contracts.events import NodeExecuted

from .bus import Bus
from .messages import Trace, make_envelope

__all__ = ["publish_execution_report"]


async def publish_execution_report(bus: Bus, cause: Envelope, report: NodeExecuted) -> None:
    """Publish ``report`` as the outcome of the execute command ``cause``."""
    key = f"executed:{report.node_run_id}:{report.attempt}"
    event = make_envelope(
        MessageType.NODE_EXECUTED,
        report,
        trace=Trace.caused_by(cause),
        idempotency_key=key,
        run_id=cause.run_id,
        node_run_id=report.node_run_id,
    )
    await bus.publish(subjects.exec_event(cause.run_id or "-"), encode(event), msg_id=key)
