"""Typed ``config`` of the special nodes toolhub executes (memory, plan, milestone).

The flowchart wire format keeps ``config`` a JSON object on :class:`~.flowchart.MemoryNode`,
:class:`~.flowchart.PlanNode` and :class:`~.flowchart.MilestoneNode`; these structs are what
that object must decode to. Save-time validation and toolhub decode it with the same types, so
an unknown key or a bad value is refused when the flowchart is saved, naming the field.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

import msgspec

__all__ = [
    "FallbackMode",
    "MemoryNodeConfig",
    "MilestoneNodeConfig",
    "MilestonePatch",
    "PlanNodeConfig",
    "PlanPatch",
    "PlanStagePatch",
    "PlanTaskPatch",
    "RetentionMode",
    "SpecialNodeTooling",
    "WorkStatus",
    "special_node_config_type",
]

Text = Annotated[str, msgspec.Meta(max_length=20_000)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
ContextPath = Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
RouteKey = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class FallbackMode(StrEnum):
    """When a failed tool step may be continued by LLM reasoning.

    ``disabled``: never (the node fails with the tool's error); ``all``: after any tool
    failure; ``conflict_only``: only when a tool reports conflicting state (``conflict``).
    """

    DISABLED = "disabled"
    ALL = "all"
    CONFLICT_ONLY = "conflict_only"


class RetentionMode(StrEnum):
    """How many memories a memory node's scope keeps after an ``add``."""

    FOREVER = "forever"
    TTL = "ttl"
    MAX_COUNT = "max_count"
    TTL_MAX_COUNT = "ttl_max_count"


class WorkStatus(StrEnum):
    """Status of a plan stage or task."""

    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    BLOCKED = "blocked"
    COMPLETED = "completed"
    SKIPPED = "skipped"


class SpecialNodeTooling(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Tool retry and fallback settings shared by every special node.

    Attributes:
        tool_fallback_mode: When LLM reasoning may continue after a failed tool step.
        tool_fallback_enabled: Older flag: ``true`` means ``all``, ``false`` ``disabled``.
        fallback_enabled: Legacy memory/plan name of ``tool_fallback_enabled``.
        tool_retry_attempts: Retries of a failed tool step (conflicts, unavailable, timeouts).
        retry_count: Legacy memory/plan name of ``tool_retry_attempts``.
        tool_retry_backoff_ms: Wait between two tries of a tool step.
        model: Model (name or alias) for fallback, guided mode and summaries; default model
            when unset.
        llm_summary: Add a human-readable ``summary`` (never authoritative) to the output.
    """

    tool_fallback_mode: FallbackMode | None = None
    tool_fallback_enabled: bool | None = None
    fallback_enabled: bool | None = None
    tool_retry_attempts: Annotated[int, msgspec.Meta(ge=0, le=5)] | None = None
    retry_count: Annotated[int, msgspec.Meta(ge=0, le=5)] | None = None
    tool_retry_backoff_ms: Annotated[int, msgspec.Meta(ge=0, le=60_000)] = 0
    model: Name | None = None
    llm_summary: bool = False

    def fallback_mode(self) -> FallbackMode:
        """The effective fallback mode (explicit mode, then the older flags, else ``all``)."""
        if self.tool_fallback_mode is not None:
            return self.tool_fallback_mode
        enabled = self.tool_fallback_enabled
        if enabled is None:
            enabled = self.fallback_enabled
        if enabled is None:
            return FallbackMode.ALL
        return FallbackMode.ALL if enabled else FallbackMode.DISABLED

    def retries(self) -> int:
        """The effective number of retries of a failed tool step (default 1)."""
        for value in (self.tool_retry_attempts, self.retry_count):
            if value is not None:
                return value
        return 1


class MemoryNodeConfig(SpecialNodeTooling, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Config of a ``memory`` node (``action`` is on the node itself).

    Attributes:
        mode: ``deterministic`` needs the text/query from config or context; ``llm_guided``
            asks the model to compose a missing text/query from the upstream context.
        store_mode: ``append`` adds a memory to the scope; ``replace`` makes it the scope's
            only memory.
        scope: Memory scope; default ``flowchart:<flowchart_id>``.
        additive_prompt: Extra instructions for guided mode.
        text: Text to add.
        text_source_path: Context path of the text to add (e.g. ``latest_upstream.output.note``).
        query: Search query for ``retrieve``.
        query_source_path: Context path of the query.
        limit: Most memories a ``retrieve`` returns.
        tags: Tags stored with added memories (and a filter for ``retrieve``).
        retention_mode: What the scope keeps after an ``add``.
        retention_ttl_seconds: Age limit for ``ttl`` modes.
        retention_max_count: Count limit for ``max_count`` modes.
    """

    mode: Literal["llm_guided", "deterministic"] = "llm_guided"
    store_mode: Literal["append", "replace"] = "append"
    scope: Name | None = None
    additive_prompt: Text | None = None
    text: Text | None = None
    text_source_path: ContextPath | None = None
    query: Annotated[str, msgspec.Meta(max_length=2_000)] | None = None
    query_source_path: ContextPath | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=50)] = 10
    tags: Annotated[list[Name], msgspec.Meta(max_length=20)] = msgspec.field(default_factory=list)
    retention_mode: RetentionMode = RetentionMode.FOREVER
    retention_ttl_seconds: Annotated[int, msgspec.Meta(ge=1)] = 3600
    retention_max_count: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 25


class PlanTaskPatch(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A task in a plan patch; matched by ``id``, else by name (case-insensitive).

    Attributes:
        stage: Stage (id or name) of a top-level patch task.
    """

    id: Name | None = None
    name: Name | None = None
    description: Text | None = None
    status: WorkStatus | None = None
    stage: Name | None = None


class PlanStagePatch(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A stage in a plan patch; matched by ``id``, else by name (case-insensitive)."""

    id: Name | None = None
    name: Name | None = None
    description: Text | None = None
    status: WorkStatus | None = None
    tasks: Annotated[list[PlanTaskPatch], msgspec.Meta(max_length=500)] | None = None


class PlanPatch(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What a plan node writes: the legacy patch keys."""

    name: Name | None = None
    description: Text | None = None
    completed: bool | None = None
    stages: Annotated[list[PlanStagePatch], msgspec.Meta(max_length=200)] | None = None
    tasks: Annotated[list[PlanTaskPatch], msgspec.Meta(max_length=500)] | None = None


class PlanNodeConfig(SpecialNodeTooling, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Config of a ``plan`` node (``plan_id`` is on the node itself).

    Attributes:
        mode: ``deterministic`` or ``llm_guided`` (same as ``transform_with_llm``).
        store_mode: ``append`` adds stages/tasks; ``replace`` rewrites the plan from the
            patch; ``update`` changes matched stages/tasks (an unmatched one is a conflict).
        patch: The patch.
        patch_source_path: Context path of the patch (overrides ``patch``).
        transform_with_llm: Let the model rewrite the patch (with ``transform_prompt``)
            before it is applied; the result must still be a valid patch.
        transform_prompt: Instructions for that rewrite.
        route_key_on_complete: ``route_key`` of the output when the plan is complete.
    """

    mode: Literal["llm_guided", "deterministic"] = "deterministic"
    store_mode: Literal["append", "replace", "update"] = "update"
    patch: PlanPatch | None = None
    patch_source_path: ContextPath | None = None
    transform_with_llm: bool = False
    transform_prompt: Text | None = None
    route_key_on_complete: RouteKey | None = None


class MilestonePatch(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Milestone fields a node may set."""

    name: Name | None = None
    description: Text | None = None
    status: (
        Literal["planned", "in_progress", "at_risk", "blocked", "completed", "cancelled"] | None
    ) = None
    priority: Literal["low", "medium", "high", "critical"] | None = None
    owner: Name | None = None
    progress_percent: Annotated[int, msgspec.Meta(ge=0, le=100)] | None = None
    health: Literal["green", "yellow", "red"] | None = None
    latest_update: Text | None = None


class MilestoneNodeConfig(
    SpecialNodeTooling, frozen=True, kw_only=True, forbid_unknown_fields=True
):
    """Config of a ``milestone`` node (``milestone_id`` and ``action`` are on the node).

    Attributes:
        patch: Fields to write.
        patch_source_path: Context path of a patch object (overrides ``patch``).
        completion_source_path: Context path whose truthy value marks the milestone complete.
        terminate_on_complete: End the run when the milestone is complete.
        terminate_on_checkpoint: End the run at a checkpoint.
        terminate_always: End the run whenever the node runs.
        loop_checkpoint_every: Every N-th execution of the node in a run is a checkpoint.
        loop_exit_after_runs: End the run at the N-th execution of the node.
        route_key_on_terminate: ``route_key`` of the output when the node ends the run.
        route_key_on_complete: ``route_key`` when the milestone is complete (and not ending).
    """

    patch: MilestonePatch | None = None
    patch_source_path: ContextPath | None = None
    completion_source_path: ContextPath | None = None
    terminate_on_complete: bool = False
    terminate_on_checkpoint: bool = False
    terminate_always: bool = False
    loop_checkpoint_every: Annotated[int, msgspec.Meta(ge=1, le=10_000)] | None = None
    loop_exit_after_runs: Annotated[int, msgspec.Meta(ge=1, le=10_000)] | None = None
    route_key_on_terminate: RouteKey | None = None
    route_key_on_complete: RouteKey | None = None


_CONFIG_TYPES: dict[str, type[SpecialNodeTooling]] = {
    "memory": MemoryNodeConfig,
    "plan": PlanNodeConfig,
    "milestone": MilestoneNodeConfig,
}


def special_node_config_type(node_type: str) -> type[SpecialNodeTooling] | None:
    """The config struct of ``node_type`` (``None`` for nodes without a typed config)."""
    return _CONFIG_TYPES.get(node_type)
