"""Cancel notices stop the named attempt only: a retry of the same node run that started
before the notice arrived keeps going (the notice can overtake the retry's command)."""

from __future__ import annotations

import asyncio
from typing import Any

from llmctl_contracts import encode
from llmctl_contracts.events import NodeCancelRequested
from llmctl_executor_frontier.worker import FrontierWorker


async def _running(worker: FrontierWorker, node_run_id: str, attempt: int) -> asyncio.Task[Any]:
    task: asyncio.Task[Any] = asyncio.create_task(asyncio.Event().wait())
    worker._running[node_run_id] = (attempt, task)
    return task


def _notice(**attempts: int) -> bytes:
    return encode(
        NodeCancelRequested(run_id="run", node_run_ids=sorted(attempts), attempts=attempts)
    )


async def test_a_notice_for_an_earlier_attempt_leaves_the_retry_running() -> None:
    worker = FrontierWorker(bus=None)  # type: ignore[arg-type]  # cancel never uses the bus
    retry = await _running(worker, "nr", attempt=2)
    await worker.cancel(_notice(nr=1))
    assert retry.cancelling() == 0  # no cancellation was requested
    await worker.cancel(_notice(nr=2))
    await asyncio.gather(retry, return_exceptions=True)
    assert retry.cancelled()


async def test_a_notice_without_attempts_stops_any_attempt_and_ignores_unknown_runs() -> None:
    worker = FrontierWorker(bus=None)  # type: ignore[arg-type]
    task = await _running(worker, "nr", attempt=3)
    await worker.cancel(encode(NodeCancelRequested(run_id="run", node_run_ids=["other", "nr"])))
    await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled()
