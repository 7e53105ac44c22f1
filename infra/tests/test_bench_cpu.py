"""CPU per node execution in the benchmark: what is counted for each process, and a sample of
real processes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from llmctl_infra.bench.cpu import BENCH, CpuSample, cpu_per_execution_ms, sample_cpu
from llmctl_infra.bench.runner import cpu_text
from llmctl_infra.state import InfraRecord, ServiceRecord, StackState


def test_each_process_counts_what_it_spent_between_the_samples() -> None:
    before = CpuSample(
        {"orchestrator": 10.0, "router": 5.0, "postgres": 1.0, "gone": 3.0},
        {101: 2.0, 102: 4.0},
    )
    after = CpuSample(
        {"orchestrator": 12.0, "router": 5.5, "postgres": 1.1, "new": 9.0},
        # 101 went on, 102 ended (missed), 103 was born in between (all of it counts)
        {101: 2.4, 103: 0.5},
    )
    cpu = cpu_per_execution_ms(before, after, executions=1000)
    assert cpu == pytest.approx(
        {"orchestrator": 2.0, "router": 0.5, "postgres": 1.0, "total": 3.5}
    )  # postgres: 0.1 (server) + 0.4 (101) + 0.5 (103) = 1.0 s, 1.0 ms per execution


def test_a_counter_that_went_backwards_counts_nothing() -> None:
    # a restarted process reuses its name with a fresh counter
    cpu = cpu_per_execution_ms(CpuSample({"router": 5.0}, {}), CpuSample({"router": 1.0}, {}), 10)
    assert cpu == {"router": 0.0, "total": 0.0}


def test_executions_must_be_positive() -> None:
    empty = CpuSample({}, {})
    with pytest.raises(ValueError, match="positive"):
        cpu_per_execution_ms(empty, empty, 0)


def test_the_table_lists_processes_largest_first() -> None:
    text = cpu_text({"router": 1.5, "orchestrator": 3.0, "models": 0.001, "total": 4.501})
    assert text == "orchestrator 3.00 + router 1.50 = 4.50 ms"


_BURNER = """
import sys
sys.stdin.readline()
total = sum(i * i for i in range(3_000_000))
print(total > 0, flush=True)
sys.stdin.readline()
"""


@pytest.fixture
def burner() -> Iterator[subprocess.Popen[str]]:
    """A child of this process that burns a fixed amount of CPU when told to."""
    process = subprocess.Popen(
        [sys.executable, "-c", _BURNER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        yield process
    finally:
        process.kill()
        process.wait()


def test_a_sample_reads_services_and_postgres_backends(
    burner: subprocess.Popen[str],
) -> None:
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    assert ended.wait() == 0  # reaped: its pid names no process
    # This test process stands in for the Postgres server, so the burner is one of its
    # "backends"; the burner is also a service. A service whose process is gone is left out.
    state = StackState(
        home="/nonexistent",
        infra={
            "postgres": InfraRecord(name="postgres", url="x", embedded=True, pid=os.getpid()),
            "nats": InfraRecord(name="nats", url="x", embedded=False),  # external: no pid
        },
        services={
            "burner": ServiceRecord(name="burner", health_url="x", log="x", pid=burner.pid),
            "gone": ServiceRecord(name="gone", health_url="x", log="x", pid=ended.pid),
        },
    )
    before = sample_cpu(state)
    assert set(before.seconds) == {BENCH, "postgres", "burner"}
    assert burner.pid in before.postgres_backends
    assert burner.stdin is not None
    assert burner.stdout is not None
    burner.stdin.write("go\n")
    burner.stdin.flush()
    assert burner.stdout.readline().strip() == "True"  # the work is done
    after = sample_cpu(state)
    cpu = cpu_per_execution_ms(before, after, executions=1)
    assert cpu["burner"] > 20  # ms: three million squares take far more than that
    # the postgres figure holds its backends too: the burner's CPU counts there as well
    assert cpu["postgres"] >= cpu["burner"]
    assert cpu["total"] == pytest.approx(sum(v for k, v in cpu.items() if k != "total"))
