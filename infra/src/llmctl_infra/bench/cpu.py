"""CPU time each process of the stack spends on a workload, per node execution.

Wall-clock figures on a shared two-core machine drift by tens of per cent within an hour. The
CPU each process spends per node execution drifts with the machine's speed too, but the shares
of the processes do not, so this is what shows which process a change made cheaper.

Postgres is its server process and every backend: a backend that is alive at both samples
counts its difference, one born in between counts all its CPU, and one that ended in between
is missed (the benchmark's own short-lived connections, not the services' pools).
"""

from __future__ import annotations

from dataclasses import dataclass

import psutil

from ..state import StackState

__all__ = ["CpuSample", "cpu_per_execution_ms", "sample_cpu"]

BENCH = "bench"
"""The benchmark client itself (this process: HTTP calls, websockets, JSON)."""


@dataclass(frozen=True, slots=True)
class CpuSample:
    """User + system CPU seconds by process name, and Postgres' by backend pid."""

    seconds: dict[str, float]
    postgres_backends: dict[int, float]


def _cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _pids(state: StackState) -> dict[str, int]:
    named = {name: record.pid for name, record in state.services.items() if record.pid}
    for name in ("nats", "postgres"):
        record = state.infra.get(name)
        if record is not None and record.pid:
            named[name] = record.pid
    return named


def sample_cpu(state: StackState) -> CpuSample:
    """CPU seconds so far of every service, NATS, Postgres (server and backends) and this
    process; processes that are gone (or external infrastructure) are left out."""
    seconds: dict[str, float] = {BENCH: _cpu_seconds(psutil.Process())}
    backends: dict[int, float] = {}
    for name, pid in _pids(state).items():
        try:
            process = psutil.Process(pid)
            seconds[name] = _cpu_seconds(process)
            if name == "postgres":
                for child in process.children():
                    try:
                        backends[child.pid] = _cpu_seconds(child)
                    except psutil.NoSuchProcess:
                        continue
        except psutil.NoSuchProcess:
            continue
    return CpuSample(seconds, backends)


def cpu_per_execution_ms(before: CpuSample, after: CpuSample, executions: int) -> dict[str, float]:
    """Milliseconds of CPU per node execution by process between two samples, and ``total``.

    A process missing from either sample is left out.
    """
    if executions <= 0:
        raise ValueError(f"executions must be positive, got {executions}")
    spent = {
        name: after.seconds[name] - before.seconds[name]
        for name in after.seconds
        if name in before.seconds
    }
    if "postgres" in spent:
        spent["postgres"] += sum(
            used - before.postgres_backends.get(pid, 0.0)
            for pid, used in after.postgres_backends.items()
        )
    per_execution = {name: 1000 * max(0.0, s) / executions for name, s in spent.items()}
    per_execution["total"] = sum(per_execution.values())
    return per_execution
