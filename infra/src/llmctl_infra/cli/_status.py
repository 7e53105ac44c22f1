"""``llmctl status``: what runs, and is it healthy."""

from __future__ import annotations

import argparse
import json
from typing import Any

from llmctl_infra.cli._common import read_state
from llmctl_infra.process import pid_alive
from llmctl_infra.service import probe
from llmctl_infra.state import StackState

__all__ = ["collect_status", "status"]


def collect_status(state: StackState) -> dict[str, Any]:
    """Probe every recorded process and health URL; return the ``status --json`` document."""
    supervisor_running = state.supervisor_pid is not None and pid_alive(
        state.supervisor_pid, state.supervisor_create_time
    )
    services = []
    for record in state.services.values():
        alive = record.pid is not None and pid_alive(record.pid, record.create_time)
        services.append(
            {
                "name": record.name,
                "pid": record.pid,
                "state": "running" if alive else "dead",
                "health": alive and probe(record.health_url),
                "url": record.health_url,
                "restarts": record.restarts,
                "log": record.log,
            }
        )
    infra = {}
    for name, part in state.infra.items():
        alive = (not part.embedded) or (
            part.pid is not None and pid_alive(part.pid, part.create_time)
        )
        infra[name] = {
            "url": part.url,
            "embedded": part.embedded,
            "pid": part.pid,
            "state": "running" if alive else "dead",
        }
    up = (
        supervisor_running
        and state.phase == "running"
        and all(s["health"] for s in services)
        and all(i["state"] == "running" for i in infra.values())
    )
    return {
        "up": up,
        "phase": state.phase if supervisor_running else "stopped",
        "home": state.home,
        "supervisor": {"pid": state.supervisor_pid, "running": supervisor_running},
        "gateway_url": state.gateway_url,
        "nats_url": _url(state, "nats"),
        "database_url": _url(state, "postgres"),
        "demo_llm_url": _url(state, "demo-llm"),
        "infra": infra,
        "services": services,
        "error": state.error,
    }


def _url(state: StackState, name: str) -> str | None:
    record = state.infra.get(name)
    return record.url if record is not None else None


def _print_table(report: dict[str, Any]) -> None:
    print(f"llmctl {'up' if report['up'] else 'NOT up'} ({report['phase']}), home {report['home']}")
    print(f"  gateway   {report['gateway_url']}")
    for name, item in report["infra"].items():
        print(f"  {name:<9} {item['url']}  {item['state']}")
    for service in report["services"]:
        health = "healthy" if service["health"] else "unhealthy"
        print(
            f"  {service['name']:<18} pid {service['pid']!s:<8} {service['state']:<8} "
            f"{health:<10} restarts {service['restarts']}  {service['url']}"
        )
    if report["error"]:
        print(f"  error: {report['error']}")


def status(args: argparse.Namespace) -> int:
    """Run ``llmctl status``; exit 0 only when everything is up and healthy."""
    state = read_state(args.home)
    if state is None:
        report: dict[str, Any] = {"up": False, "phase": "stopped", "services": [], "infra": {}}
        if args.json:
            print(json.dumps(report, indent=2))
        else:
            print(f"llmctl is not running (no state in {args.home.resolve()})")
        return 1
    report = collect_status(state)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_table(report)
    return 0 if report["up"] else 1
