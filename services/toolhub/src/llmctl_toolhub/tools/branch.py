"""Connector/branch tools, delegating to the router (the single owner of routing rules)."""

from __future__ import annotations

from typing import Any

import msgspec

from llmctl_contracts.flowchart import (
    Connector,
    DecisionCondition,
    DecisionNode,
    NoMatchPolicy,
)
from llmctl_contracts.routing_ops import (
    ConditionValidation,
    NextNodes,
    ResolveNextNodes,
    ValidateConnectorConditions,
)
from llmctl_contracts.rpc import FlowchartRecord, GetById, RunRecord
from llmctl_libs.tools import ToolContext, ToolSpec

from ._deps import ToolDeps, not_found
from ._types import EntityId

__all__ = ["branch_tools"]

DOMAIN = "connector_branch"


class BranchEvaluateArgs(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A decision node, its outgoing connectors, and the output to evaluate.

    Attributes:
        node: The decision node (``type`` may be omitted).
        outgoing: Its outgoing connectors in canvas order.
        output: The output its conditions see as ``output.*``.
        context: Input context, visible to conditions at the top level.
    """

    node: DecisionNode
    outgoing: list[Connector]
    output: dict[str, Any] = msgspec.field(default_factory=dict)
    context: dict[str, Any] = msgspec.field(default_factory=dict)


class ConditionsGetArgs(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A node of a run's flowchart."""

    run_id: EntityId
    node_id: EntityId


class ConnectorConditions(msgspec.Struct, frozen=True, kw_only=True):
    """A node's routing configuration as its run's flowchart defines it.

    Attributes:
        flowchart_id: The run's flowchart.
        flowchart_version: The version the run pinned.
        node_id: The node.
        node_type: Its type; only ``decision`` nodes have conditions (others fire every solid
            outgoing connector).
        conditions: The decision conditions (empty for other nodes).
        no_match_policy: ``fail`` or ``fallback`` (decision nodes only).
        fallback_connector_id: The fallback connector, if any.
        outgoing: The node's outgoing connectors (solid and dotted).
    """

    flowchart_id: str
    flowchart_version: int
    node_id: str
    node_type: str
    conditions: list[DecisionCondition]
    outgoing: list[Connector]
    no_match_policy: NoMatchPolicy | None = None
    fallback_connector_id: str | None = None


def branch_tools(deps: ToolDeps) -> list[ToolSpec[Any, Any]]:
    """The connector/branch tools."""

    async def branch_evaluate(ctx: ToolContext, args: BranchEvaluateArgs) -> NextNodes:
        request = ResolveNextNodes(
            node=args.node, outgoing=args.outgoing, output=args.output, context=args.context
        )
        result = await deps.router("next_nodes.resolve", request, NextNodes)
        if result.routing_state.fallback_used:
            ctx.use_fallback("a free-text condition was evaluated by the heuristic")
        return result

    async def next_nodes_resolve(ctx: ToolContext, args: ResolveNextNodes) -> NextNodes:
        result = await deps.router("next_nodes.resolve", args, NextNodes)
        if result.routing_state.fallback_used:
            ctx.use_fallback("a free-text condition was evaluated by the heuristic")
        return result

    async def conditions_validate(
        ctx: ToolContext, args: ValidateConnectorConditions
    ) -> ConditionValidation:
        return await deps.router("connector_conditions.validate", args, ConditionValidation)

    async def conditions_get(ctx: ToolContext, args: ConditionsGetArgs) -> ConnectorConditions:
        run = await deps.orchestrator("run.get", GetById(id=args.run_id), RunRecord)
        flowchart = await deps.orchestrator(
            "flowchart.get", GetById(id=run.flowchart_id), FlowchartRecord
        )
        if flowchart.version != run.flowchart_version:
            ctx.warn(
                f"the run pinned version {run.flowchart_version}; showing version "
                f"{flowchart.version}, the only one the orchestrator serves"
            )
        node = next((n for n in flowchart.definition.nodes if n.id == args.node_id), None)
        if node is None:
            raise not_found("node", "node_id", args.node_id)
        outgoing = [c for c in flowchart.definition.connectors if c.source == node.id]
        decision = node if isinstance(node, DecisionNode) else None
        return ConnectorConditions(
            flowchart_id=flowchart.id,
            flowchart_version=flowchart.version,
            node_id=node.id,
            node_type=str(type(node).__struct_config__.tag),
            conditions=list(decision.conditions) if decision else [],
            outgoing=outgoing,
            no_match_policy=decision.no_match_policy if decision else None,
            fallback_connector_id=decision.fallback_connector_id if decision else None,
        )

    return [
        ToolSpec(
            "branch_evaluate",
            1,
            DOMAIN,
            "Evaluate a decision node's conditions against an output: which connectors match, "
            "each condition's evaluation, and the targets (nothing is recorded).",
            BranchEvaluateArgs,
            NextNodes,
            branch_evaluate,
            max_attempts=2,
        ),
        ToolSpec(
            "connector_conditions_get",
            1,
            DOMAIN,
            "A node's decision conditions, no-match policy and outgoing connectors in a run's "
            "flowchart.",
            ConditionsGetArgs,
            ConnectorConditions,
            conditions_get,
            max_attempts=2,
        ),
        ToolSpec(
            "connector_conditions_validate",
            1,
            DOMAIN,
            "Check a decision node's conditions against its outgoing connectors; returns errors, "
            "warnings and the conditions repaired to match the connectors.",
            ValidateConnectorConditions,
            ConditionValidation,
            conditions_validate,
            max_attempts=2,
        ),
        ToolSpec(
            "next_nodes_resolve",
            1,
            DOMAIN,
            "Dry-run routing of any node with a given output: the routing decision and the "
            "target node ids (dotted connectors never fire).",
            ResolveNextNodes,
            NextNodes,
            next_nodes_resolve,
            max_attempts=2,
        ),
    ]
