"""Plan tools: plans of ordered stages holding tasks; get, list, create, update, delete,
reorder_stages, set_stage_status."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from llmctl_contracts.special_nodes import WorkStatus
from llmctl_libs.ids import new_id

from ._rows import (
    Deleted,
    EntityId,
    ExpectedVersion,
    Limit,
    Offset,
    assign_id,
    delete_row,
    insert_new,
    iso,
    locked_row,
    recent_page,
    require_row,
    update_row,
)
from .errors import invalid, not_found
from .operation import DomainOperation, operation
from .tables import plans

__all__ = [
    "OPERATIONS",
    "PlanCreate",
    "PlanDelete",
    "PlanGet",
    "PlanList",
    "PlanPage",
    "PlanRecord",
    "PlanReorderStages",
    "PlanSetStageStatus",
    "PlanUpdate",
    "StageInput",
    "StageRecord",
    "TaskInput",
    "TaskRecord",
]

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Text = Annotated[str, msgspec.Meta(max_length=20_000)]


class _Args(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class TaskInput(_Args, frozen=True):
    """A task as written (a new id is assigned when ``id`` is left out)."""

    name: Name
    id: EntityId | None = None
    description: Text = ""
    status: WorkStatus = WorkStatus.PENDING


class StageInput(_Args, frozen=True):
    """A stage as written (a new id is assigned when ``id`` is left out)."""

    name: Name
    id: EntityId | None = None
    description: Text = ""
    status: WorkStatus = WorkStatus.PENDING
    tasks: Annotated[list[TaskInput], msgspec.Meta(max_length=500)] = msgspec.field(
        default_factory=list
    )


class TaskRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A stored task."""

    id: str
    name: str
    description: str
    status: WorkStatus


class StageRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A stored stage."""

    id: str
    name: str
    description: str
    status: WorkStatus
    tasks: list[TaskRecord]


class PlanRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A stored plan."""

    id: str
    name: str
    description: str
    completed: bool
    stages: list[StageRecord]
    version: int
    created_at: str
    updated_at: str


class PlanPage(msgspec.Struct, frozen=True, kw_only=True):
    """Plans, most recently updated first."""

    items: list[PlanRecord]


Stages = Annotated[list[StageInput], msgspec.Meta(max_length=200)]


class PlanCreate(_Args, frozen=True):
    """Arguments of ``plan_create``."""

    name: Name
    description: Text = ""
    completed: bool = False
    stages: Stages = msgspec.field(default_factory=list)
    id: EntityId | None = None


class PlanGet(_Args, frozen=True):
    """Arguments of ``plan_get``."""

    id: EntityId


class PlanList(_Args, frozen=True):
    """Arguments of ``plan_list``."""

    completed: bool | None = None
    limit: Limit = 50
    offset: Offset = 0


class PlanUpdate(_Args, frozen=True):
    """Arguments of ``plan_update``: fields left out keep their value; ``stages`` replaces all
    stages (ids kept where given)."""

    id: EntityId
    expected_version: ExpectedVersion
    name: Name | None = None
    description: Text | None = None
    completed: bool | None = None
    stages: Stages | None = None


class PlanDelete(_Args, frozen=True):
    """Arguments of ``plan_delete``."""

    id: EntityId
    expected_version: ExpectedVersion | None = None


class PlanReorderStages(_Args, frozen=True):
    """Arguments of ``plan_reorder_stages``: every stage id exactly once, in the new order."""

    id: EntityId
    stage_ids: Annotated[list[EntityId], msgspec.Meta(max_length=200)]
    expected_version: ExpectedVersion | None = None


class PlanSetStageStatus(_Args, frozen=True):
    """Arguments of ``plan_set_stage_status``."""

    id: EntityId
    stage_id: EntityId
    status: WorkStatus
    expected_version: ExpectedVersion | None = None


def _stages(inputs: list[StageInput]) -> list[dict[str, Any]]:
    """Stored form of ``inputs``; ids are assigned and must be unique within the plan."""
    seen_stages: set[str] = set()
    seen_tasks: set[str] = set()
    out = []
    for i, stage in enumerate(inputs):
        stage_id = stage.id or new_id()
        if stage_id in seen_stages:
            raise invalid(f"stages[{i}].id", f"duplicate stage id {stage_id!r}")
        seen_stages.add(stage_id)
        tasks = []
        for j, task in enumerate(stage.tasks):
            task_id = task.id or new_id()
            if task_id in seen_tasks:
                raise invalid(f"stages[{i}].tasks[{j}].id", f"duplicate task id {task_id!r}")
            seen_tasks.add(task_id)
            tasks.append(
                {
                    "id": task_id,
                    "name": task.name,
                    "description": task.description,
                    "status": task.status.value,
                }
            )
        out.append(
            {
                "id": stage_id,
                "name": stage.name,
                "description": stage.description,
                "status": stage.status.value,
                "tasks": tasks,
            }
        )
    return out


def _record(row: Any) -> PlanRecord:
    return PlanRecord(
        id=row.id,
        name=row.name,
        description=row.description,
        completed=row.completed,
        stages=msgspec.convert(row.stages, list[StageRecord]),
        version=row.version,
        created_at=iso(row.created_at) or "",
        updated_at=iso(row.updated_at) or "",
    )


async def plan_create(conn: AsyncConnection, args: PlanCreate) -> PlanRecord:
    """Create a plan with ordered ``stages``, each holding ``tasks``."""
    values = {
        "id": assign_id(args.id),
        "name": args.name,
        "description": args.description,
        "completed": args.completed,
        "stages": _stages(args.stages),
        "version": 1,
    }
    return _record(await insert_new(conn, plans, values, "plan"))


async def plan_get(conn: AsyncConnection, args: PlanGet) -> PlanRecord:
    """Fetch one plan with its stages and tasks."""
    return _record(await require_row(conn, plans, args.id, "plan"))


async def plan_list(conn: AsyncConnection, args: PlanList) -> PlanPage:
    """List plans, most recently updated first (optionally only (in)complete ones)."""
    where = plans.c.completed == args.completed if args.completed is not None else None
    rows = await recent_page(conn, plans, where, args.limit, args.offset)
    return PlanPage(items=[_record(r) for r in rows])


async def plan_update(conn: AsyncConnection, args: PlanUpdate) -> PlanRecord:
    """Change a plan's name, description, completed flag and/or its whole stage list;
    ``expected_version`` must be current."""
    row = await locked_row(conn, plans, args.id, args.expected_version, "plan")
    values: dict[str, Any] = {}
    for field in ("name", "description", "completed"):
        value = getattr(args, field)
        if value is not None:
            values[field] = value
    if args.stages is not None:
        values["stages"] = _stages(args.stages)
    if not values:
        raise invalid("stages", "give at least one of name, description, completed, stages")
    return _record(await update_row(conn, plans, row, values))


async def plan_delete(conn: AsyncConnection, args: PlanDelete) -> Deleted:
    """Delete a plan (checking ``expected_version`` when given)."""
    return await delete_row(conn, plans, args.id, args.expected_version, "plan")


async def plan_reorder_stages(conn: AsyncConnection, args: PlanReorderStages) -> PlanRecord:
    """Put a plan's stages in the order of ``stage_ids`` (each existing stage id once)."""
    row = await locked_row(conn, plans, args.id, args.expected_version, "plan")
    by_id = {stage["id"]: stage for stage in row.stages}
    seen: set[str] = set()
    for i, stage_id in enumerate(args.stage_ids):
        if stage_id not in by_id:
            raise invalid(f"stage_ids[{i}]", f"plan {row.id!r} has no stage {stage_id!r}")
        if stage_id in seen:
            raise invalid(f"stage_ids[{i}]", f"stage {stage_id!r} is listed twice")
        seen.add(stage_id)
    missing = [stage_id for stage_id in by_id if stage_id not in seen]
    if missing:
        raise invalid("stage_ids", f"stages missing from the new order: {', '.join(missing)}")
    stages = [by_id[stage_id] for stage_id in args.stage_ids]
    return _record(await update_row(conn, plans, row, {"stages": stages}))


async def plan_set_stage_status(conn: AsyncConnection, args: PlanSetStageStatus) -> PlanRecord:
    """Set the status of one stage of a plan."""
    row = await locked_row(conn, plans, args.id, args.expected_version, "plan")
    stages = [dict(stage) for stage in row.stages]
    for stage in stages:
        if stage["id"] == args.stage_id:
            stage["status"] = args.status.value
            return _record(await update_row(conn, plans, row, {"stages": stages}))
    raise not_found(f"stage of plan {row.id!r}", args.stage_id, field="stage_id")


OPERATIONS: list[DomainOperation] = [
    operation("plan_get", plan_get, writes=False),
    operation("plan_list", plan_list, writes=False),
    operation("plan_create", plan_create, writes=True),
    operation("plan_update", plan_update, writes=True),
    operation("plan_delete", plan_delete, writes=True),
    operation("plan_reorder_stages", plan_reorder_stages, writes=True),
    operation("plan_set_stage_status", plan_set_stage_status, writes=True),
]
