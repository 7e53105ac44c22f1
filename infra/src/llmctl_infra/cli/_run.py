"""``llmctl run``: register a flowchart, start a run, optionally follow it to the end."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from websockets.exceptions import WebSocketException
from websockets.sync.client import connect

from llmctl_infra.cli._api import GatewayClient
from llmctl_infra.cli._common import CliError, read_state

__all__ = ["TERMINAL_EVENTS", "TERMINAL_STATUSES", "run"]

TERMINAL_EVENTS = frozenset({"run.succeeded", "run.failed", "run.cancelled", "run.canceled"})
TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled", "canceled"})


def _load_json(text: str, source: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(
            f"{source} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})", 2
        ) from exc


def _read_flowchart(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise CliError(f"flowchart file not found: {path}", 2) from exc
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}", 2) from exc
    document = _load_json(text, str(path))
    if not isinstance(document, dict):
        raise CliError(f"{path} must hold a JSON object (a flowchart)", 2)
    return document


def _gateway_url(args: argparse.Namespace) -> str:
    if args.gateway:
        return str(args.gateway)
    if os.environ.get("LLMCTL_GATEWAY_URL"):
        return os.environ["LLMCTL_GATEWAY_URL"]
    state = read_state(args.home)
    if state is not None and state.gateway_url:
        return state.gateway_url
    return f"http://127.0.0.1:{os.environ.get('LLMCTL_GATEWAY_PORT', '8080')}"


def _describe_event(message: dict[str, Any]) -> str:
    raw = message.get("data")
    data: dict[str, Any] = raw if isinstance(raw, dict) else {}
    parts = [f"{message.get('sequence', '?'):>4}", str(message.get("event_type", "?"))]
    for key in ("node_id", "node_type", "status", "error"):
        if data.get(key) is not None:
            parts.append(f"{key}={data[key]}")
    return "  ".join(parts)


def _follow_websocket(base_url: str, run_id: str, deadline: float, quiet: bool) -> None:
    """Print run events until a terminal one; raise OSError/WebSocketException on failure."""
    ws_url = base_url.replace("http://", "ws://", 1).replace("https://", "wss://", 1)
    with connect(f"{ws_url}/api/v1/ws", open_timeout=10) as socket:
        subscribe = {"type": "subscribe", "run_id": run_id, "after_sequence": 0}
        socket.send(json.dumps(subscribe))
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise CliError(f"run {run_id} did not finish in time")
            message = json.loads(socket.recv(timeout=remaining))
            if message.get("type") == "error":
                raise WebSocketException(f"socket error: {message.get('error', message)}")
            if message.get("type") != "event" or message.get("run_id", run_id) != run_id:
                continue
            if not quiet:
                print(_describe_event(message), flush=True)
            if message.get("event_type") in TERMINAL_EVENTS:
                return


def _poll(client: GatewayClient, run_id: str, deadline: float, quiet: bool) -> None:
    last = None
    while time.monotonic() < deadline:
        current = client.request("GET", f"/api/v1/runs/{run_id}")
        status = current.get("status")
        if status != last and not quiet:
            print(f"run {run_id}: {status}", flush=True)
        last = status
        if status in TERMINAL_STATUSES:
            return
        time.sleep(0.5)  # polling fallback when the websocket is unavailable
    raise CliError(f"run {run_id} did not finish in time")


def _node_runs(client: GatewayClient, run_id: str) -> list[Any]:
    """Every node run of the run, page after page until a page is empty."""
    nodes: list[Any] = []
    while page := client.request("GET", f"/api/v1/runs/{run_id}/node-runs?offset={len(nodes)}"):
        nodes += page
    return nodes


def run(args: argparse.Namespace) -> int:
    """Run ``llmctl run``; exit 0 only when the run succeeded (or was just started)."""
    flowchart = _read_flowchart(args.file)
    run_input = _load_json(args.input, "--input") if args.input is not None else {}
    if not isinstance(run_input, dict):
        raise CliError("--input must be a JSON object", 2)
    base_url = _gateway_url(args)
    client = GatewayClient(base_url)
    try:
        created = client.request("POST", "/api/v1/flowcharts", json=flowchart)
        body = {"flowchart_id": created["id"], "input": run_input}
        started = client.request(
            "POST", "/api/v1/runs", json=body, headers={"Idempotency-Key": str(uuid.uuid4())}
        )
        run_id = str(started["id"])
        if not args.json:
            print(f"flowchart {created['id']} v{created.get('version', '?')}: run {run_id}")
        if not args.wait:
            if args.json:
                print(json.dumps(started, indent=2))
            return 0
        deadline = time.monotonic() + args.timeout
        try:
            _follow_websocket(base_url, run_id, deadline, args.json)
        except (OSError, WebSocketException, ValueError) as exc:
            if not args.json:
                print(f"websocket unavailable ({exc}); polling", file=sys.stderr)
            _poll(client, run_id, deadline, args.json)
        final = client.request("GET", f"/api/v1/runs/{run_id}")
        if args.json:
            print(json.dumps({"run": final, "node_runs": _node_runs(client, run_id)}, indent=2))
        else:
            print(f"run {run_id} {final.get('status')}")
        return 0 if final.get("status") == "succeeded" else 1
    finally:
        client.close()
