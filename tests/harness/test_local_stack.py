"""End to end: the real services under the stack supervisor run the example flowchart."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmctl_infra.ports import free_port
from llmctl_infra.stack import Stack, StackConfig

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "flowcharts" / "hello.json"


@pytest.fixture
def stack(tmp_path: Path, nats_url: str, database_url: str) -> Iterator[Stack]:
    config = StackConfig(
        home=tmp_path / "home",
        gateway_port=free_port(),
        nats_url=nats_url,
        database_url=database_url,
        demo_llm=True,
    )
    with Stack(config) as running:
        yield running


@pytest.mark.skipif(not EXAMPLE.exists(), reason="examples/flowcharts/hello.json is missing")
async def test_hello_flowchart_succeeds_through_the_cli(stack: Stack) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "llmctl_infra.cli",
        "run",
        str(EXAMPLE),
        "--wait",
        "--json",
        "--gateway",
        stack.gateway_url,
        "--timeout",
        "120",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 150)
    assert proc.returncode == 0, err.decode()
    summary = json.loads(out)
    assert summary["run"]["status"] == "succeeded"
    assert {node["status"] for node in summary["node_runs"]} == {"succeeded"}
