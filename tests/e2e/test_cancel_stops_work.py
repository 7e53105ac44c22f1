"""Cancelling a run tells the executor to stop the node it is running, and the run stays cancelled."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from llmctl_contracts import subjects
from llmctl_contracts.rpc import ControlRun, RunRecord
from llmctl_libs.bus import Bus
from llmctl_libs.rpc import call

if TYPE_CHECKING:
    from conftest import E2EStack


async def test_cancel_interrupts_the_model_call(
    e2e_private: E2EStack, hello: dict[str, Any]
) -> None:
    e2e = e2e_private
    e2e.gate.open.clear()
    run = await e2e.start_run(await e2e.create_flowchart(hello))
    await asyncio.wait_for(e2e.gate.arrived.wait(), 60)  # classify waits inside the model call

    bus = Bus(e2e.services.endpoints.nats_url, service="cancel-test")
    await bus.start()
    try:
        cancelled = await call(
            bus,
            subjects.rpc("orchestrator", "run.control"),
            ControlRun(run_id=run["id"], action="cancel", request_id="stop-1", reason="test"),
            RunRecord,
        )
    finally:
        await bus.stop()
    assert cancelled.status == "cancelled"

    # the executor stopped the call and reported the attempt as cancelled (never completed)
    report = await e2e.first_executor_report(run["id"])
    assert report["payload"]["succeeded"] is False
    assert report["payload"]["error"]["code"] == "cancelled"
    assert e2e.llm.stats.completions == 0

    e2e.gate.open.set()
    node_runs = {n["node_id"]: n for n in await e2e.node_runs(run["id"])}
    assert node_runs["classify"]["status"] == "cancelled"
    assert set(node_runs) == {"start", "classify"}  # nothing ran after the cancel
    assert (await e2e.run(run["id"]))["status"] == "cancelled"
