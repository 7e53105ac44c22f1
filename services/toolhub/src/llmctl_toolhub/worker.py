"""Executes special nodes dispatched to toolhub.

The deterministic memory/plan/milestone/rag/flowchart tools are not built yet: each such node
fails at once with an ``unavailable`` error that names the node type, so a run never hangs on
a node nobody executes.
"""

from __future__ import annotations

import time

from llmctl_contracts import (
    Envelope,
    ErrorBody,
    ErrorCode,
    decode_payload,
)
from llmctl_contracts.commands import ExecuteNode
from llmctl_contracts.events import NodeExecuted
from llmctl_libs.bus import Bus
from llmctl_libs.reports import publish_execution_report

__all__ = ["SpecialNodeWorker"]


class SpecialNodeWorker:
    """Consumes ``llmctl.cmd.exec.toolhub`` and reports each attempt."""

    def __init__(self, bus: Bus) -> None:
        self._bus = bus

    async def __call__(self, envelope: Envelope) -> None:
        command = decode_payload(envelope, ExecuteNode)
        node_type = type(command.node).__struct_config__.tag
        started = time.time()
        report = NodeExecuted(
            node_run_id=command.node_run_id,
            node_id=command.node.id,
            attempt=command.attempt,
            succeeded=False,
            error=ErrorBody(
                code=ErrorCode.UNAVAILABLE,
                message=f"{node_type} nodes are not supported by this toolhub version yet",
            ),
            started_at=started,
            finished_at=time.time(),
            worker_id="toolhub",
        )
        await publish_execution_report(self._bus, envelope, report)
