"""The ``llmctl`` command line, run as a real process."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest
from litestar import Litestar, WebSocket, get, post, websocket
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.response import Response

from llmctl_infra.ports import free_port
from llmctl_infra.process import pid_alive
from llmctl_infra.stack import Stack, StackConfig
from llmctl_infra.state import StackState
from llmctl_infra.testing import fake_service_spec, serve_asgi, wait_until

FAKES = (fake_service_spec("alpha", migrate=True), fake_service_spec("gateway", gateway=True))


def _llmctl(*args: str, home: Path | None = None) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "llmctl_infra.cli", *args]
    if home is not None:
        argv += ["--home", str(home)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


async def _allmctl(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "llmctl_infra.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.fixture
def running_stack(tmp_path: Path, nats_url: str, database_url: str) -> Iterator[Stack]:
    config = StackConfig(
        home=tmp_path / "home",
        gateway_port=free_port(),
        nats_url=nats_url,
        database_url=database_url,
        demo_llm=False,
    )
    with Stack(config, FAKES) as stack:
        yield stack


def test_status_json_reports_running_stack(running_stack: Stack) -> None:
    result = _llmctl("status", "--json", home=running_stack.home)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["up"] is True
    assert report["gateway_url"] == running_stack.gateway_url
    services = {s["name"]: s for s in report["services"]}
    assert services["alpha"]["pid"] == running_stack.service("alpha").pid
    assert services["alpha"]["state"] == "running"
    assert services["alpha"]["health"] is True

    running_stack.service("alpha").kill()
    result = _llmctl("status", "--json", home=running_stack.home)
    assert result.returncode == 1
    alpha = next(s for s in json.loads(result.stdout)["services"] if s["name"] == "alpha")
    assert alpha["state"] == "dead"
    assert alpha["health"] is False

    table = _llmctl("status", home=running_stack.home)
    assert "alpha" in table.stdout
    assert "dead" in table.stdout


def test_logs_prints_a_service_log(running_stack: Stack) -> None:
    result = _llmctl("logs", "alpha", "-n", "5", home=running_stack.home)
    assert result.returncode == 0
    assert "fake service listening" in result.stdout
    missing = _llmctl("logs", "nope", home=running_stack.home)
    assert missing.returncode == 1
    assert "known: " in missing.stderr


def test_status_without_a_stack_fails(tmp_path: Path) -> None:
    result = _llmctl("status", "--json", home=tmp_path)
    assert result.returncode == 1
    assert json.loads(result.stdout)["up"] is False


def test_run_reports_bad_files(tmp_path: Path) -> None:
    missing = _llmctl("run", str(tmp_path / "missing.json"), home=tmp_path)
    assert missing.returncode == 2
    assert "flowchart file not found" in missing.stderr
    assert "missing.json" in missing.stderr

    broken = tmp_path / "broken.json"
    broken.write_text('{"nodes": [}')
    invalid = _llmctl("run", str(broken), home=tmp_path)
    assert invalid.returncode == 2
    assert "is not valid JSON" in invalid.stderr
    assert "line 1" in invalid.stderr

    good = tmp_path / "good.json"
    good.write_text("{}")
    bad_input = _llmctl("run", str(good), "--input", "[1]", home=tmp_path)
    assert bad_input.returncode == 2
    assert "--input must be a JSON object" in bad_input.stderr

    unreachable = _llmctl(
        "run", str(good), "--gateway", f"http://127.0.0.1:{free_port()}", home=tmp_path
    )
    assert unreachable.returncode == 1
    assert "cannot reach the gateway" in unreachable.stderr


def test_down_stops_a_supervisor_and_everything_it_started(
    tmp_path: Path, nats_url: str, database_url: str
) -> None:
    home = tmp_path / "home"
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from llmctl_infra.stack import StackConfig, run_supervisor
        from llmctl_infra.testing import fake_service_spec
        config = StackConfig(home=Path({str(home)!r}), gateway_port={free_port()},
                             nats_url={nats_url!r}, database_url={database_url!r})
        specs = [fake_service_spec("alpha", migrate=True),
                 fake_service_spec("gateway", gateway=True)]
        sys.exit(run_supervisor(config, specs))
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    supervisor = subprocess.Popen(
        [sys.executable, "-c", script],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def running() -> bool:
            state = StackState.read(home / "state.json")
            return state is not None and state.phase == "running"

        wait_until(
            running,
            timeout=60,
            what="supervisor up",
            abort=lambda: None if supervisor.poll() is None else "supervisor exited",
        )
        state = StackState.read(home / "state.json")
        assert state is not None
        assert state.supervisor_pid == supervisor.pid
        pids = [s.pid for s in state.services.values()] + [state.infra["demo-llm"].pid]
        assert all(pid is not None and pid_alive(pid) for pid in pids)

        status = _llmctl("status", home=home)
        assert status.returncode == 0, status.stdout

        down = _llmctl("down", home=home)
        assert down.returncode == 0, down.stderr
        assert supervisor.wait(10) == 0
        assert not any(pid_alive(pid) for pid in pids if pid is not None)
        final = StackState.read(home / "state.json")
        assert final is not None
        assert final.phase == "stopped"
        assert _llmctl("status", home=home).returncode == 1
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
            supervisor.wait()


def _fake_gateway(*, fail_flowchart: bool = False) -> Litestar:
    run = {"id": "run-1", "status": "running", "flowchart_id": "fc-1"}

    @post("/api/v1/flowcharts", status_code=201)
    async def create_flowchart(data: JSONBody[dict[str, Any]]) -> Response[dict[str, Any]]:
        if fail_flowchart:
            error = {
                "code": "validation_failed",
                "message": "flowchart is invalid",
                "details": [{"field": "nodes[0].type", "reason": "unknown node type"}],
                "request_id": "req-1",
            }
            return Response({"ok": False, "error": error, "correlation_id": "c-1"}, status_code=422)
        return Response({"ok": True, "data": {"id": "fc-1", "version": 1}})

    @post("/api/v1/runs", status_code=201)
    async def create_run(data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
        assert data == {"flowchart_id": "fc-1", "input": {"topic": "x"}}
        return {"ok": True, "data": run}

    @get("/api/v1/runs/{run_id:str}")
    async def get_run(run_id: FromPath[str]) -> dict[str, Any]:
        return {"ok": True, "data": {**run, "status": "succeeded"}}

    @get("/api/v1/runs/{run_id:str}/node-runs")
    async def node_runs(
        run_id: FromPath[str], offset: Annotated[int, QueryParameter(ge=0)] = 0
    ) -> dict[str, Any]:
        nodes = [
            {
                "node_id": f"n{i}",
                "node_type": "task",
                "status": "succeeded",
                "execution_index": 0,
                "output": {"text": "hi"},
            }
            for i in (1, 2, 3)
        ]
        return {"ok": True, "data": nodes[offset : offset + 2]}  # pages of two

    @websocket("/api/v1/ws")
    async def ws(socket: WebSocket[Any, Any, Any]) -> None:
        await socket.accept()
        request = await socket.receive_json()
        assert request == {"type": "subscribe", "run_id": "run-1", "after_sequence": 0}
        for sequence, event_type in enumerate(["node.succeeded", "run.succeeded"], 1):
            await socket.send_json(
                {
                    "type": "event",
                    "event": "flowchart:node:completed",
                    "sequence": sequence,
                    "event_type": event_type,
                    "run_id": "run-1",
                    "data": {"node_id": "n1"},
                }
            )
        await socket.receive_text()

    return Litestar([create_flowchart, create_run, get_run, node_runs, ws])


async def test_run_wait_follows_events_to_success(tmp_path: Path) -> None:
    flowchart = tmp_path / "flow.json"
    flowchart.write_text(json.dumps({"name": "demo", "nodes": []}))
    async with serve_asgi(_fake_gateway()) as url:
        code, out, err = await _allmctl(
            "run", str(flowchart), "--input", '{"topic": "x"}', "--wait", "--gateway", url
        )
        assert code == 0, err
        assert "node.succeeded" in out
        assert "run run-1 succeeded" in out
        code, out, err = await _allmctl(
            "run",
            str(flowchart),
            "--input",
            '{"topic": "x"}',
            "--wait",
            "--json",
            "--gateway",
            url,
        )
        assert code == 0, err
        summary = json.loads(out)
        assert summary["run"]["status"] == "succeeded"
        assert [n["node_id"] for n in summary["node_runs"]] == ["n1", "n2", "n3"]  # paged


async def test_run_prints_the_error_envelope(tmp_path: Path) -> None:
    flowchart = tmp_path / "flow.json"
    flowchart.write_text("{}")
    async with serve_asgi(_fake_gateway(fail_flowchart=True)) as url:
        code, _out, err = await _allmctl("run", str(flowchart), "--gateway", url)
    assert code == 1
    assert "validation_failed: flowchart is invalid (HTTP 422)" in err
    assert "nodes[0].type: unknown node type" in err
    assert "request_id=req-1" in err


def test_bench_without_a_stack_fails_clearly(tmp_path: Path) -> None:
    result = _llmctl("bench", "--home", str(tmp_path), home=tmp_path)
    assert result.returncode == 1
    assert "no running stack" in result.stdout
