"""Wires toolhub to the bus."""

from __future__ import annotations

from pathlib import Path

from llmctl_contracts import subjects
from llmctl_libs.consumer import guarded
from llmctl_libs.service import ServiceContext, ServiceDefinition
from llmctl_libs.store.retention import tool_results_retention

from .tables import SCHEMA, tool_calls
from .tooling import register_tools
from .worker import SpecialNodeWorker

__all__ = ["DEFINITION", "setup"]


async def setup(ctx: ServiceContext) -> None:
    """Register the special-node work queue consumer and serve the tool registry."""
    worker = SpecialNodeWorker(ctx.bus, register_tools(ctx))
    ctx.bus.consume(
        subjects.execute_command("toolhub"),
        "toolhub",
        guarded(ctx.bus, "toolhub", worker),
        stream=subjects.CMD_STREAM,
    )


DEFINITION = ServiceDefinition(
    name="toolhub",
    setup=setup,
    schema=SCHEMA,
    migrations=Path(__file__).parent / "migrations",
    retention=(tool_results_retention(tool_calls.results),),
)
