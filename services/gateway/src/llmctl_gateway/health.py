"""Aggregate health: the gateway itself plus each service's ``health`` RPC, concurrently."""

from __future__ import annotations

import asyncio
import os

from llmctl_contracts.rpc import HealthReport
from llmctl_libs.bus import Bus
from llmctl_libs.rpc import RpcError

from .backend import rpc_call
from .schemas import ServiceHealth

__all__ = ["GATEWAY", "collect_health"]

GATEWAY = "gateway"


def _bus_connected(bus: Bus | None) -> bool:
    if bus is None:
        return False
    try:
        return bool(bus.nc.is_connected)
    except Exception:
        return False


async def _service_health(bus: Bus | None, service: str, timeout: float) -> ServiceHealth:
    try:
        report = await rpc_call(bus, service, "health", {}, HealthReport, timeout=timeout)
    except RpcError as exc:
        return ServiceHealth(healthy=False, pid=None, error=exc.body.code.value)
    if not report.healthy:
        failing = sorted(name for name, ok in report.checks.items() if not ok)
        reason = "unhealthy: " + ", ".join(failing) if failing else "unhealthy"
        return ServiceHealth(healthy=False, pid=report.pid, error=reason)
    return ServiceHealth(healthy=True, pid=report.pid)


async def collect_health(
    bus: Bus | None, services: tuple[str, ...], *, timeout: float
) -> dict[str, ServiceHealth]:
    """Health of the gateway and of each of ``services``.

    Args:
        bus: The gateway's bus (``None`` or disconnected: the gateway is unhealthy).
        services: Service names whose ``health`` RPC is asked, all at once.
        timeout: Seconds each service has to answer.

    Returns:
        ``{name: ServiceHealth}`` with ``gateway`` first.
    """
    connected = _bus_connected(bus)
    gateway = ServiceHealth(
        healthy=connected, pid=os.getpid(), error=None if connected else "bus not connected"
    )
    reports = await asyncio.gather(*(_service_health(bus, s, timeout) for s in services))
    return {GATEWAY: gateway, **dict(zip(services, reports, strict=True))}
