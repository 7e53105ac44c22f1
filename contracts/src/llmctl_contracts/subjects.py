"""NATS subject and stream names. The only place a subject string is spelled out."""

from __future__ import annotations

__all__ = [
    "CMD_STREAM",
    "CMD_SUBJECTS",
    "EVT_STREAM",
    "EVT_SUBJECTS",
    "cancel_broadcast",
    "config_event",
    "config_events_all",
    "control_command",
    "exec_event",
    "exec_events_all",
    "execute_command",
    "flowchart_event",
    "route_command",
    "route_event",
    "route_events_all",
    "rpc",
    "run_event",
    "run_events",
    "tool_call",
    "tool_journal",
    "tool_list",
]

EVT_STREAM = "LLMCTL_EVT"
EVT_SUBJECTS = ["llmctl.evt.>"]
CMD_STREAM = "LLMCTL_CMD"
CMD_SUBJECTS = ["llmctl.cmd.>"]


def run_event(run_id: str, entity: str, action: str) -> str:
    """Orchestrator-owned run timeline event, e.g. ``llmctl.evt.run.<id>.node.succeeded``."""
    return f"llmctl.evt.run.{run_id}.{entity}.{action}"


def run_events(run_id: str) -> str:
    """Filter matching every timeline event of one run."""
    return f"llmctl.evt.run.{run_id}.>"


def exec_event(run_id: str) -> str:
    """Worker report of one node execution attempt."""
    return f"llmctl.evt.exec.{run_id}.node.executed"


def exec_events_all() -> str:
    """Filter for every worker report."""
    return "llmctl.evt.exec.*.node.executed"


def route_event(run_id: str) -> str:
    """Router decision for one finished node run."""
    return f"llmctl.evt.route.{run_id}.node.routed"


def route_events_all() -> str:
    """Filter for every router decision."""
    return "llmctl.evt.route.*.node.routed"


def flowchart_event(flowchart_id: str, action: str) -> str:
    """Flowchart definition events."""
    return f"llmctl.evt.flowchart.{flowchart_id}.{action}"


def config_event(entity: str, entity_id: str, action: str) -> str:
    """Configuration change, e.g. ``llmctl.evt.config.model.<id>.updated``.

    Entities: ``provider``, ``model``, ``runtime_settings``, ``flowchart``. The websocket
    relays these to clients subscribed to config events as ``config:<entity>:<action>``.
    """
    return f"llmctl.evt.config.{entity}.{entity_id}.{action}"


def config_events_all() -> str:
    """Filter for every configuration event."""
    return "llmctl.evt.config.>"


def execute_command(worker: str) -> str:
    """Work queue of one worker class (``frontier``, ``vllm``, ``toolhub``)."""
    return f"llmctl.cmd.exec.{worker}"


def route_command() -> str:
    """Work queue of the router."""
    return "llmctl.cmd.router.route"


def control_command() -> str:
    """Work queue of workflow-control commands (``ControlRun``) for the orchestrator."""
    return "llmctl.cmd.run.control"


def cancel_broadcast() -> str:
    """Core-NATS broadcast telling every worker to stop some node runs (best effort)."""
    return "llmctl.ctl.node.cancel"


def rpc(service: str, operation: str) -> str:
    """Request/reply subject of one service operation, e.g. ``llmctl.rpc.orchestrator.run.get``."""
    return f"llmctl.rpc.{service}.{operation}"


def tool_call(service: str = "toolhub") -> str:
    """Request/reply subject invoking one tool of ``service``'s registry (``ToolCallRequest``)."""
    return rpc(service, "tool.call")


def tool_list(service: str = "toolhub") -> str:
    """Request/reply subject listing ``service``'s tools (``ListTools``)."""
    return rpc(service, "tool.list")


def tool_journal(service: str = "toolhub") -> str:
    """Request/reply subject reading the calls one node-run attempt already made
    (``ToolJournalRequest``), so a redelivered agent loop resumes instead of calling again."""
    return rpc(service, "tool.journal")
