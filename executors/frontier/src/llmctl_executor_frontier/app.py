"""Wires the frontier executor to the bus (no database: state travels over NATS only)."""

from __future__ import annotations

import os

from llmctl_contracts import subjects
from llmctl_libs.consumer import guarded
from llmctl_libs.service import ServiceContext, ServiceDefinition

from .worker import FrontierWorker

__all__ = ["DEFINITION", "setup"]


async def setup(ctx: ServiceContext) -> None:
    """Register the frontier work-queue consumer."""
    concurrency = int(os.environ.get("LLMCTL_EXECUTOR_CONCURRENCY", "8"))
    worker = FrontierWorker(ctx.bus)
    ctx.bus.listen(subjects.cancel_broadcast(), worker.cancel)
    ctx.bus.consume(
        subjects.execute_command("frontier"),
        "executor-frontier",
        guarded(ctx.bus, "executor-frontier", worker),
        stream=subjects.CMD_STREAM,
        max_workers=concurrency,
    )


DEFINITION = ServiceDefinition(name="executor-frontier", setup=setup)
