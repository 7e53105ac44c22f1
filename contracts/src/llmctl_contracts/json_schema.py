"""JSON Schema of every public contract, for export and snapshot tests."""

from __future__ import annotations

from typing import Any

import msgspec

from . import models
from .artifacts import ArtifactRecord
from .envelope import Envelope
from .errors import ErrorEnvelope
from .flowchart import FlowchartDefinition
from .registry import COMMAND_TYPES, EVENT_TYPES
from .routing import RoutingState
from .routing_ops import (
    ConditionValidation,
    NextNodes,
    ResolveNextNodes,
    ValidateConnectorConditions,
)
from .special_nodes import MemoryNodeConfig, MilestoneNodeConfig, PlanNodeConfig
from .tools import ListTools, ToolCallRecord, ToolCallRequest, ToolCallResult, ToolDescriptor

__all__ = ["contract_schemas"]


def contract_schemas() -> dict[str, dict[str, Any]]:
    """Map of file stem -> JSON Schema for every exported contract."""
    schemas: dict[str, dict[str, Any]] = {
        "artifact-record": msgspec.json.schema(ArtifactRecord),
        "envelope": msgspec.json.schema(Envelope),
        "error-envelope": msgspec.json.schema(ErrorEnvelope),
        "flowchart-definition": msgspec.json.schema(FlowchartDefinition),
        "routing-state": msgspec.json.schema(RoutingState),
        "router.connector-conditions-validate.request": msgspec.json.schema(
            ValidateConnectorConditions
        ),
        "router.connector-conditions-validate.reply": msgspec.json.schema(ConditionValidation),
        "router.next-nodes-resolve.request": msgspec.json.schema(ResolveNextNodes),
        "router.next-nodes-resolve.reply": msgspec.json.schema(NextNodes),
        "special-node-config.memory": msgspec.json.schema(MemoryNodeConfig),
        "special-node-config.plan": msgspec.json.schema(PlanNodeConfig),
        "special-node-config.milestone": msgspec.json.schema(MilestoneNodeConfig),
        "models.provider": msgspec.json.schema(models.ProviderDescriptor),
        "models.model-record": msgspec.json.schema(models.ModelRecord),
        "models.model-page": msgspec.json.schema(models.ModelPage),
        "models.model-list.request": msgspec.json.schema(models.ListModels),
        "models.model-create.request": msgspec.json.schema(models.CreateModel),
        "models.model-update.request": msgspec.json.schema(models.UpdateModel),
        "models.model-delete.request": msgspec.json.schema(models.DeleteModel),
        "models.validate-provider-settings.request": msgspec.json.schema(
            models.ValidateProviderSettings
        ),
        "models.validate-provider-settings.reply": msgspec.json.schema(
            models.ProviderSettingsValidation
        ),
        "models.runtime-settings": msgspec.json.schema(models.RuntimeSettings),
        "models.runtime-settings-update.request": msgspec.json.schema(models.UpdateRuntimeSettings),
        "tool.call.request": msgspec.json.schema(ToolCallRequest),
        "tool.call.reply": msgspec.json.schema(ToolCallResult),
        "tool.call.record": msgspec.json.schema(ToolCallRecord),
        "tool.list.request": msgspec.json.schema(ListTools),
        "tool.list.reply": msgspec.json.schema(list[ToolDescriptor]),
    }
    for (name, version), struct in sorted({**EVENT_TYPES, **COMMAND_TYPES}.items()):
        schemas[f"{name}.v{version}"] = msgspec.json.schema(struct)
    return schemas
