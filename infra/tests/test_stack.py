"""The stack supervisor with fake services."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from llmctl_infra._wait import WaitTimeout
from llmctl_infra.ports import free_port
from llmctl_infra.process import pid_alive
from llmctl_infra.service import probe
from llmctl_infra.specs import DEFAULT_SERVICES
from llmctl_infra.stack import Stack, StackConfig, StackError
from llmctl_infra.state import StackState
from llmctl_infra.testing import ServiceProcesses, fake_service_spec, wait_until


def _config(home: Path, nats_url: str, database_url: str, **extra: object) -> StackConfig:
    return StackConfig(
        home=home,
        gateway_port=free_port(),
        nats_url=nats_url,
        database_url=database_url,
        demo_llm=False,
        health_timeout=30,
        **extra,  # type: ignore[arg-type]
    )


FAKES = (
    fake_service_spec("alpha", migrate=True),
    fake_service_spec("beta"),
    fake_service_spec("gateway", gateway=True),
)


def test_default_table_lists_every_service() -> None:
    names = [spec.name for spec in DEFAULT_SERVICES]
    assert names == [
        "orchestrator",
        "router",
        "toolhub",
        "models",
        "executor-frontier",
        "gateway",
    ]
    assert [s.name for s in DEFAULT_SERVICES if s.migrate] == names[:4]


def test_start_restart_and_stop(tmp_path: Path, nats_url: str, database_url: str) -> None:
    stack = Stack(_config(tmp_path, nats_url, database_url, restart_backoff=0.1), FAKES)
    stack.start()
    try:
        state = StackState.read(stack.state_path)
        assert state is not None
        assert state.phase == "running"
        assert state.infra["nats"].url == nats_url
        assert not state.infra["nats"].embedded
        pids = {name: record.pid for name, record in state.services.items()}
        assert set(pids) == {"alpha", "beta", "gateway"}
        assert all(pid is not None and pid_alive(pid) for pid in pids.values())
        assert probe(f"{stack.gateway_url}/api/v1/health")
        assert (tmp_path / "logs" / "alpha.log").exists()
        assert (tmp_path / "logs" / "alpha.migrate.log").read_text().startswith("fake migrate")

        stack.service("beta").kill()

        def beta_back() -> bool:
            stack.check()
            record = StackState.read(stack.state_path)
            assert record is not None
            beta = record.services["beta"]
            return beta.restarts == 1 and beta.state == "running" and beta.pid != pids["beta"]

        wait_until(beta_back, timeout=20, what="beta restarted")
        assert probe(stack.service("beta").health_url)
    finally:
        stack.stop()
    final = StackState.read(stack.state_path)
    assert final is not None
    assert final.phase == "stopped"
    for record in final.services.values():
        assert record.pid is not None
        assert not pid_alive(record.pid)


def test_failed_migration_names_the_service(
    tmp_path: Path, nats_url: str, database_url: str
) -> None:
    bad = fake_service_spec("broken", migrate=True, env={"LLMCTL_FAKE_FAIL_MIGRATE": "1"})
    stack = Stack(_config(tmp_path, nats_url, database_url), (*FAKES, bad))
    with pytest.raises(StackError, match="broken migrate exited with code 1"):
        stack.start()
    state = StackState.read(stack.state_path)
    assert state is not None
    assert state.phase == "failed"
    assert "broken" in (state.error or "")


def test_service_that_dies_at_start_is_reported_with_its_log(
    tmp_path: Path, nats_url: str, database_url: str
) -> None:
    dying = fake_service_spec("dying", env={"LLMCTL_FAKE_EXIT_CODE": "3"})
    stack = Stack(_config(tmp_path, nats_url, database_url), (FAKES[0], dying))
    with pytest.raises(StackError, match="dying") as info:
        stack.start()
    assert "exited with code 3" in str(info.value)
    assert "failing on purpose" in str(info.value)
    alpha = stack.service("alpha").pid
    assert alpha is not None
    assert not pid_alive(alpha)


def test_gateway_port_in_use_is_refused(tmp_path: Path, nats_url: str, database_url: str) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        config = StackConfig(
            home=tmp_path,
            gateway_port=busy.getsockname()[1],
            nats_url=nats_url,
            database_url=database_url,
            demo_llm=False,
        )
        with pytest.raises(StackError, match="already in use"):
            Stack(config, FAKES).start()


def test_embedded_infrastructure_and_demo_llm(tmp_path: Path) -> None:
    config = StackConfig(home=tmp_path, gateway_port=free_port(), demo_llm=True)
    with Stack(config, FAKES) as stack:
        state = StackState.read(stack.state_path)
        assert state is not None
        infra = state.infra
        assert infra["nats"].embedded
        assert infra["postgres"].embedded
        assert infra["postgres"].url.startswith("postgresql+psycopg://postgres@127.0.0.1:")
        assert probe(infra["demo-llm"].url.removesuffix("/v1") + "/healthz")
        pids = [r.pid for r in infra.values()]
        assert all(pid is not None and pid_alive(pid) for pid in pids)
        env = stack.service("alpha").process.env
        assert env is not None
        assert env["LLMCTL_DEMO_LLM_URL"] == infra["demo-llm"].url
        assert env["LLMCTL_DATABASE_URL"] == infra["postgres"].url
        assert "LLMCTL_GATEWAY_PORT" not in env
    for pid in pids:
        assert pid is not None
        assert not pid_alive(pid)


def test_service_processes_that_fail_to_start_leave_nothing_running(
    tmp_path: Path, nats_url: str, database_url: str
) -> None:
    dying = fake_service_spec("dying", env={"LLMCTL_FAKE_EXIT_CODE": "3"})
    services = ServiceProcesses(
        [FAKES[1], dying], nats_url=nats_url, database_url=database_url, log_dir=tmp_path
    )
    with pytest.raises(WaitTimeout, match="dying"):
        services.start_all(timeout=30)
    # beta was started, then stopped because "dying" never came up
    assert not pid_alive(services.pid("beta"))
