"""Flowchart definition schema (runtime schema v1).

A flowchart is a graph of nodes joined by solid connectors (they trigger the target) and dotted
connectors (the target pulls the source's latest output as context). Node kinds form a tagged
union on ``type`` so a malformed node gets an error naming its exact field.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

import msgspec

__all__ = [
    "FLOWCHART_SCHEMA_VERSION",
    "Connector",
    "ConnectorKind",
    "DecisionCondition",
    "DecisionNode",
    "EndNode",
    "ExecutionDefaults",
    "FanInMode",
    "FanInPolicy",
    "FlowchartDefinition",
    "FlowchartRefNode",
    "MemoryNode",
    "MilestoneNode",
    "NoMatchPolicy",
    "Node",
    "NodeType",
    "PlanNode",
    "Position",
    "Predicate",
    "PredicateOp",
    "RagNode",
    "RunLimits",
    "StartNode",
    "TaskNode",
]

FLOWCHART_SCHEMA_VERSION = 1

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+(?!\n)$")]
Seconds = Annotated[float, msgspec.Meta(gt=0, le=86_400)]
Attempts = Annotated[int, msgspec.Meta(ge=1, le=20)]
BackoffMs = Annotated[int, msgspec.Meta(ge=0, le=3_600_000)]


class NodeType(StrEnum):
    """Every node kind the runtime knows."""

    START = "start"
    END = "end"
    TASK = "task"
    DECISION = "decision"
    MEMORY = "memory"
    PLAN = "plan"
    MILESTONE = "milestone"
    RAG = "rag"
    FLOWCHART = "flowchart"


class ConnectorKind(StrEnum):
    """Solid connectors trigger their target; dotted ones only feed it context."""

    SOLID = "solid"
    DOTTED = "dotted"


class FanInMode(StrEnum):
    """How many solid parents must hold a token before a node activates."""

    ALL = "all"
    ANY = "any"
    CUSTOM = "custom"


class FanInPolicy(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Fan-in threshold: ``all`` parents, ``any`` one, or ``custom`` N (1 <= N <= parents)."""

    mode: FanInMode = FanInMode.ALL
    count: Annotated[int, msgspec.Meta(ge=1)] | None = None


class Position(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Canvas position (UI only)."""

    x: float = 0.0
    y: float = 0.0


class PredicateOp(StrEnum):
    """Structured predicate operators; ``all``/``any``/``not`` combine sub-predicates."""

    EQ = "eq"
    NE = "ne"
    IN = "in"
    CONTAINS = "contains"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    EXISTS = "exists"
    MATCHES = "matches"
    ALL = "all"
    ANY = "any"
    NOT = "not"


class Predicate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A strict structured predicate over the decision node's context.

    Comparison operators use ``path`` (dotted path into the context, e.g.
    ``latest_upstream.output.route_key``) and ``value``; ``all``/``any``/``not`` use ``of``.
    """

    op: PredicateOp
    path: str | None = None
    value: Any = None
    of: list[Predicate] | None = None


class DecisionCondition(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Condition attached to one solid outgoing connector of a decision node.

    ``predicate`` is evaluated strictly; a condition with only ``text`` (legacy form) is parsed
    into a predicate where possible, else evaluated heuristically and marked ``fallback_used``.
    """

    connector_id: Id
    predicate: Predicate | None = None
    text: str | None = None


class NoMatchPolicy(StrEnum):
    """What a decision does when no condition matches."""

    FAIL = "fail"
    FALLBACK = "fallback"


class ExecutionDefaults(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Flowchart-wide defaults that nodes may override."""

    timeout_seconds: Seconds = 1800.0
    max_attempts: Attempts = 1
    retry_backoff_ms: BackoffMs = 0


class RunLimits(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Run guards; ``max_node_executions`` is capped at 10,000 regardless."""

    max_node_executions: Annotated[int, msgspec.Meta(ge=1, le=10_000)] | None = None
    max_runtime_seconds: Annotated[float, msgspec.Meta(gt=0)] | None = None
    max_parallel_nodes: Annotated[int, msgspec.Meta(ge=1, le=1_000)] = 16


class _NodeBase(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag_field="type"
):
    id: Id
    title: str = ""
    fan_in: FanInPolicy = FanInPolicy()
    timeout_seconds: Seconds | None = None
    max_attempts: Attempts | None = None
    retry_backoff_ms: BackoffMs | None = None
    position: Position | None = None


class StartNode(_NodeBase, tag="start", frozen=True):
    """The single entry node of a flowchart."""


class EndNode(_NodeBase, tag="end", frozen=True):
    """Reaching an end node completes the run (``terminate_run``)."""


class TaskNode(_NodeBase, tag="task", frozen=True):
    """An LLM task executed by an executor.

    Attributes:
        prompt: The task prompt (required, non-empty).
        model: Model name or alias from the models service.
        output_schema: JSON Schema the structured output must validate against.
        agent_id: Agent whose role/skills compose the system prompt.
        additional_prompt: Extra per-node instructions appended to the prompt.
        mcp_server_ids: MCP servers the node may use.
        tool_allowlist: Tool names the node may call (enforced by the tool layer). A
            non-empty list offers those tools to the model (function calling).
        max_tool_rounds: Model turns that may ask for tools before the node fails.
        schema_retry_attempts: Re-prompts with validation errors before failing.
        executor_class: Executor class that runs the node.
    """

    prompt: Annotated[str, msgspec.Meta(min_length=1)]
    model: str | None = None
    output_schema: dict[str, Any] | None = None
    agent_id: str | None = None
    additional_prompt: str | None = None
    mcp_server_ids: list[str] = msgspec.field(default_factory=list)
    tool_allowlist: list[str] = msgspec.field(default_factory=list)
    max_tool_rounds: Annotated[int, msgspec.Meta(ge=1, le=50)] = 10
    schema_retry_attempts: Annotated[int, msgspec.Meta(ge=0, le=10)] = 2
    executor_class: Literal["frontier", "vllm"] = "frontier"


class DecisionNode(_NodeBase, tag="decision", frozen=True):
    """Routes to every solid connector whose condition matches (multi-match fan-out)."""

    conditions: list[DecisionCondition] = msgspec.field(default_factory=list)
    no_match_policy: NoMatchPolicy = NoMatchPolicy.FAIL
    fallback_connector_id: Id | None = None


class MemoryNode(_NodeBase, tag="memory", frozen=True):
    """Deterministic memory add/retrieve (toolhub)."""

    action: Literal["add", "retrieve"] = "retrieve"
    config: dict[str, Any] = msgspec.field(default_factory=dict)


class PlanNode(_NodeBase, tag="plan", frozen=True):
    """Deterministic plan update (toolhub)."""

    plan_id: str | None = None
    config: dict[str, Any] = msgspec.field(default_factory=dict)


class MilestoneNode(_NodeBase, tag="milestone", frozen=True):
    """Deterministic milestone update with loop controls (toolhub)."""

    milestone_id: str | None = None
    action: Literal["create_or_update", "mark_complete"] = "create_or_update"
    config: dict[str, Any] = msgspec.field(default_factory=dict)


class RagNode(_NodeBase, tag="rag", frozen=True):
    """Retrieval over indexed collections (toolhub)."""

    mode: Literal["fresh_index", "delta_index", "query"] = "query"
    collections: list[str] = msgspec.field(default_factory=list)
    question_prompt: str | None = None
    top_k: Annotated[int, msgspec.Meta(ge=1, le=20)] = 5


class FlowchartRefNode(_NodeBase, tag="flowchart", frozen=True):
    """Queues a run of another flowchart."""

    flowchart_id: Id


Node = (
    StartNode
    | EndNode
    | TaskNode
    | DecisionNode
    | MemoryNode
    | PlanNode
    | MilestoneNode
    | RagNode
    | FlowchartRefNode
)


class Connector(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A directed connector between two nodes."""

    id: Id
    source: Id
    target: Id
    kind: ConnectorKind = ConnectorKind.SOLID
    label: str = ""


class FlowchartDefinition(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A whole flowchart as submitted to ``POST /api/v1/flowcharts``."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    nodes: Annotated[list[Node], msgspec.Meta(min_length=1, max_length=5_000)]
    connectors: Annotated[list[Connector], msgspec.Meta(max_length=20_000)] = msgspec.field(
        default_factory=list
    )
    description: str = ""
    schema_version: Literal[1] = 1
    limits: RunLimits = RunLimits()
    defaults: ExecutionDefaults = ExecutionDefaults()
