"""Workers' reports: one ``node.executed`` event per node-run attempt, published directly.

Workers hold no database; the report's key is derived from the node run and attempt, so a
report re-sent after a crash is dropped by JetStream or by the orchestrator's inbox.

A report must fit in one bus message. One that would not (a task whose prompt, in the
artifact detail, or whose output is several MiB) is cut down rather than lost: the artifact
detail is left out first, and if the output alone is still too large the attempt is reported
failed with ``too_large``. Publishing it whole would fail every time, the command would be
redelivered and re-executed, and the run would wait for the node's timeout.
"""

from __future__ import annotations

import msgspec

from llmctl_contracts import Envelope, ErrorBody, ErrorCode, MessageType, encode, subjects
from llmctl_contracts.events import NodeExecuted

from .bus import Bus
from .messages import Trace, make_envelope
from .store.outbox import message_limit

__all__ = ["publish_execution_report", "report_that_fits"]


def _encoded(cause: Envelope, report: NodeExecuted, key: str) -> bytes:
    event = make_envelope(
        MessageType.NODE_EXECUTED,
        report,
        trace=Trace.caused_by(cause),
        idempotency_key=key,
        run_id=cause.run_id,
        node_run_id=report.node_run_id,
    )
    return encode(event)


def report_that_fits(cause: Envelope, report: NodeExecuted, limit: int) -> bytes:
    """The encoded report event, cut down to at most ``limit`` bytes if need be (see the
    module's notes)."""
    key = f"executed:{report.node_run_id}:{report.attempt}"
    body = _encoded(cause, report, key)
    if len(body) <= limit:
        return body
    whole = len(body)
    if report.artifact is not None:
        note = f"left out: the report with it was {whole:,} bytes, more than the bus carries"
        report = msgspec.structs.replace(report, artifact={"detail_omitted": note})
        body = _encoded(cause, report, key)
        if len(body) <= limit:
            return body
    failed = NodeExecuted(
        node_run_id=report.node_run_id,
        node_id=report.node_id,
        attempt=report.attempt,
        succeeded=False,
        error=ErrorBody(
            code=ErrorCode.TOO_LARGE,
            message=f"the node's report would be {len(body):,} bytes, more than the message "
            f"bus carries ({limit:,} bytes): its output is too large to send",
        ),
        warnings=report.warnings,
        started_at=report.started_at,
        finished_at=report.finished_at,
        worker_id=report.worker_id,
    )
    return _encoded(cause, failed, key)


async def publish_execution_report(bus: Bus, cause: Envelope, report: NodeExecuted) -> None:
    """Publish ``report`` as the outcome of the execute command ``cause`` (cut down to fit in
    one bus message if need be)."""
    key = f"executed:{report.node_run_id}:{report.attempt}"
    body = report_that_fits(cause, report, message_limit(bus))
    await bus.publish(subjects.exec_event(cause.run_id or "-"), body, msg_id=key)
