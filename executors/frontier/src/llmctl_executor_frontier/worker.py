"""Consumes execute commands for the frontier class and reports each attempt."""

from __future__ import annotations

import asyncio
import os
import time

from llmctl_contracts import (
    Envelope,
    ErrorBody,
    ErrorCode,
    decode_payload,
    subjects,
)
from llmctl_contracts.commands import ExecuteNode, ModelBinding
from llmctl_contracts.events import NodeExecuted
from llmctl_contracts.flowchart import TaskNode
from llmctl_contracts.rpc import ResolveModel
from llmctl_libs.bus import Bus
from llmctl_libs.reports import publish_execution_report
from llmctl_libs.rpc import RpcError, call

from .providers import ProviderRegistry
from .task import TaskFailure, run_task

__all__ = ["FrontierWorker"]


class FrontierWorker:
    """Executes task nodes and publishes ``node.executed`` reports (no database access)."""

    def __init__(self, bus: Bus, providers: ProviderRegistry | None = None) -> None:
        self._bus = bus
        self._providers = providers or ProviderRegistry()
        self._worker_id = f"frontier-{os.getpid()}"

    async def __call__(self, envelope: Envelope) -> None:
        command = decode_payload(envelope, ExecuteNode)
        started = time.time()
        try:
            async with asyncio.timeout(command.timeout_seconds):
                model = await self._resolve(command)
                outcome = await run_task(command, model, self._providers)
            report = NodeExecuted(
                node_run_id=command.node_run_id,
                node_id=command.node.id,
                attempt=command.attempt,
                succeeded=True,
                output=outcome.output,
                started_at=started,
                finished_at=time.time(),
                worker_id=self._worker_id,
            )
        except TaskFailure as failure:
            report = self._failed(command, failure.body, started)
        except TimeoutError:
            report = self._failed(
                command,
                ErrorBody(
                    code=ErrorCode.TIMEOUT,
                    message=f"node timed out after {command.timeout_seconds:g} s",
                ),
                started,
            )
        await publish_execution_report(self._bus, envelope, report)

    async def _resolve(self, command: ExecuteNode) -> ModelBinding:
        if command.model is not None:
            return command.model
        name = command.node.model if isinstance(command.node, TaskNode) else None
        try:
            return await call(
                self._bus,
                subjects.rpc("models", "model.resolve"),
                ResolveModel(name=name),
                ModelBinding,
            )
        except RpcError as exc:
            raise TaskFailure(
                ErrorBody(
                    code=ErrorCode.UNAVAILABLE, message=f"model unavailable: {exc.body.message}"
                )
            ) from exc

    def _failed(self, command: ExecuteNode, error: ErrorBody, started: float) -> NodeExecuted:
        return NodeExecuted(
            node_run_id=command.node_run_id,
            node_id=command.node.id,
            attempt=command.attempt,
            succeeded=False,
            error=error,
            started_at=started,
            finished_at=time.time(),
            worker_id=self._worker_id,
        )
