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
    decode_strict,
    subjects,
)
from llmctl_contracts.commands import ExecuteNode, ModelBinding
from llmctl_contracts.events import NodeCancelRequested, NodeExecuted
from llmctl_contracts.flowchart import TaskNode
from llmctl_contracts.rpc import ResolveModel
from llmctl_libs.bus import Bus
from llmctl_libs.reports import publish_execution_report
from llmctl_libs.rpc import RpcError, call
from llmctl_libs.tools import ToolClient

from .node_tools import open_node_tools
from .providers import ProviderRegistry
from .task import TaskFailure, TaskOutcome, run_task

__all__ = ["FrontierWorker"]


class FrontierWorker:
    """Executes task nodes and publishes ``node.executed`` reports (no database access; tool
    calls go to toolhub)."""

    def __init__(self, bus: Bus, providers: ProviderRegistry | None = None) -> None:
        self._bus = bus
        self._providers = providers or ProviderRegistry()
        self._tools = ToolClient(bus)
        self._worker_id = f"frontier-{os.getpid()}"
        self._running: dict[str, tuple[int, asyncio.Task[TaskOutcome]]] = {}

    async def cancel(self, body: bytes) -> None:
        """Stop the attempts named in a cancel notice, if this process is running them (a
        later attempt of the same node run, e.g. a retry dispatched meanwhile, keeps going)."""
        notice = decode_strict(body, NodeCancelRequested, what="cancel notice")
        for node_run_id in notice.node_run_ids:
            running = self._running.get(node_run_id)
            if running is None:
                continue
            attempt, task = running
            if notice.attempts.get(node_run_id, attempt) == attempt:
                task.cancel()

    async def _execute(self, command: ExecuteNode, envelope: Envelope) -> TaskOutcome:
        model = await self._resolve(command)
        tools = await open_node_tools(
            self._tools,
            command,
            run_id=envelope.run_id or "",
            request_id=envelope.request_id,
            correlation_id=envelope.correlation_id,
        )
        return await run_task(command, model, self._providers, tools)

    async def __call__(self, envelope: Envelope) -> None:
        command = decode_payload(envelope, ExecuteNode)
        started = time.time()
        execution = asyncio.create_task(self._execute(command, envelope))
        self._running[command.node_run_id] = (command.attempt, execution)
        try:
            async with asyncio.timeout(command.timeout_seconds):
                outcome = await asyncio.shield(execution)
            report = NodeExecuted(
                node_run_id=command.node_run_id,
                node_id=command.node.id,
                attempt=command.attempt,
                succeeded=True,
                output=outcome.output,
                artifact=outcome.artifact(),
                started_at=started,
                finished_at=time.time(),
                worker_id=self._worker_id,
            )
        except TaskFailure as failure:
            report = self._failed(command, failure.body, started)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                execution.cancel()
                raise  # this process is stopping: the message is redelivered elsewhere
            report = self._failed(
                command,
                ErrorBody(code=ErrorCode.CANCELLED, message="node run cancelled by request"),
                started,
            )
        except TimeoutError:
            execution.cancel()
            report = self._failed(
                command,
                ErrorBody(
                    code=ErrorCode.TIMEOUT,
                    message=f"node timed out after {command.timeout_seconds:g} s",
                ),
                started,
            )
        finally:
            if self._running.get(command.node_run_id, (0, None))[1] is execution:
                del self._running[command.node_run_id]
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
