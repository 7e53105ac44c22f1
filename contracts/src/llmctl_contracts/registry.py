"""Message type registry: (type, version) -> payload Struct, and socket event names."""

from __future__ import annotations

from typing import Final

import msgspec

from . import commands, events, models, rpc

__all__ = ["COMMAND_TYPES", "EVENT_TYPES", "MessageType", "payload_type", "socket_event_name"]


class MessageType:
    """Type names, so no code spells them by hand."""

    FLOWCHART_CREATED = "flowchart.created"
    FLOWCHART_UPDATED = "flowchart.updated"
    FLOWCHART_DELETED = "flowchart.deleted"
    RUN_CREATED = "run.created"
    RUN_STARTED = "run.started"
    RUN_SUCCEEDED = "run.succeeded"
    RUN_FAILED = "run.failed"
    RUN_CONTROLLED = "run.controlled"
    NODE_CANCEL_REQUESTED = "node.cancel_requested"
    NODE_QUEUED = "node.queued"
    NODE_DISPATCHED = "node.dispatched"
    NODE_SUCCEEDED = "node.succeeded"
    NODE_FAILED = "node.failed"
    NODE_ROUTED = "node.routed"
    NODE_EXECUTED = "node.executed"
    NODE_ROUTING_DECIDED = "node.routing_decided"
    NODE_RETRY_SCHEDULED = "node.retry_scheduled"
    NODE_REQUEUED = "node.requeued"
    NODE_SKIPPED = "node.skipped"
    RUN_REWOUND = "run.rewound"
    EXECUTE_NODE = "node.execute"
    ROUTE_NODE = "node.route"
    CONTROL_RUN = "run.control"
    MODEL_CREATED = "model.created"
    MODEL_UPDATED = "model.updated"
    MODEL_DELETED = "model.deleted"
    RUNTIME_SETTINGS_UPDATED = "runtime_settings.updated"


EVENT_TYPES: Final[dict[tuple[str, int], type[msgspec.Struct]]] = {
    (MessageType.FLOWCHART_CREATED, 1): events.FlowchartCreated,
    (MessageType.FLOWCHART_UPDATED, 1): events.FlowchartUpdated,
    (MessageType.FLOWCHART_DELETED, 1): events.FlowchartDeleted,
    (MessageType.RUN_CREATED, 1): events.RunCreated,
    (MessageType.RUN_STARTED, 1): events.RunStarted,
    (MessageType.RUN_SUCCEEDED, 1): events.RunSucceeded,
    (MessageType.RUN_FAILED, 1): events.RunFailed,
    (MessageType.RUN_CONTROLLED, 1): events.RunControlled,
    (MessageType.NODE_CANCEL_REQUESTED, 1): events.NodeCancelRequested,
    (MessageType.NODE_QUEUED, 1): events.NodeQueued,
    (MessageType.NODE_DISPATCHED, 1): events.NodeDispatched,
    (MessageType.NODE_SUCCEEDED, 1): events.NodeSucceeded,
    (MessageType.NODE_FAILED, 1): events.NodeFailed,
    (MessageType.NODE_ROUTED, 1): events.NodeRouted,
    (MessageType.NODE_EXECUTED, 1): events.NodeExecuted,
    (MessageType.NODE_ROUTING_DECIDED, 1): events.NodeRoutingDecided,
    (MessageType.NODE_RETRY_SCHEDULED, 1): events.NodeRetryScheduled,
    (MessageType.NODE_REQUEUED, 1): events.NodeRequeued,
    (MessageType.NODE_SKIPPED, 1): events.NodeSkipped,
    (MessageType.RUN_REWOUND, 1): events.RunRewound,
    (MessageType.MODEL_CREATED, 1): models.ModelCreated,
    (MessageType.MODEL_UPDATED, 1): models.ModelUpdated,
    (MessageType.MODEL_DELETED, 1): models.ModelDeleted,
    (MessageType.RUNTIME_SETTINGS_UPDATED, 1): models.RuntimeSettingsUpdated,
}

COMMAND_TYPES: Final[dict[tuple[str, int], type[msgspec.Struct]]] = {
    (MessageType.EXECUTE_NODE, 1): commands.ExecuteNode,
    (MessageType.ROUTE_NODE, 1): commands.RouteNode,
    (MessageType.CONTROL_RUN, 1): rpc.ControlRun,
}

_SOCKET_NAMES: Final[dict[str, str]] = {
    MessageType.RUN_CREATED: "flowchart:run:created",
    MessageType.RUN_STARTED: "flowchart:run:updated",
    MessageType.RUN_SUCCEEDED: "flowchart:run:succeeded",
    MessageType.RUN_FAILED: "flowchart:run:failed",
    MessageType.RUN_CONTROLLED: "flowchart:run:updated",
    MessageType.NODE_QUEUED: "flowchart:node:queued",
    MessageType.NODE_DISPATCHED: "flowchart:node:dispatched",
    MessageType.NODE_SUCCEEDED: "flowchart:node:completed",
    MessageType.NODE_FAILED: "flowchart:node:failed",
    MessageType.NODE_ROUTED: "flowchart:node:routed",
    MessageType.NODE_RETRY_SCHEDULED: "flowchart:node:retry_scheduled",
    MessageType.NODE_REQUEUED: "flowchart:node:queued",
    MessageType.NODE_SKIPPED: "flowchart:node:skipped",
    MessageType.RUN_REWOUND: "flowchart:run:rewound",
    MessageType.FLOWCHART_CREATED: "flowchart:definition:created",
    MessageType.FLOWCHART_UPDATED: "flowchart:definition:updated",
    MessageType.FLOWCHART_DELETED: "flowchart:definition:deleted",
    MessageType.MODEL_CREATED: "config:model:created",
    MessageType.MODEL_UPDATED: "config:model:updated",
    MessageType.MODEL_DELETED: "config:model:deleted",
    MessageType.RUNTIME_SETTINGS_UPDATED: "config:runtime_settings:updated",
}


def payload_type(type_name: str, version: int) -> type[msgspec.Struct] | None:
    """The payload Struct registered for ``(type_name, version)``, or ``None`` if unknown."""
    return EVENT_TYPES.get((type_name, version)) or COMMAND_TYPES.get((type_name, version))


def socket_event_name(type_name: str) -> str:
    """The ``domain:entity:action`` socket name of an event type."""
    name = _SOCKET_NAMES.get(type_name)
    if name is not None:
        return name
    entity, _, action = type_name.partition(".")
    return f"flowchart:{entity}:{action or 'updated'}"
