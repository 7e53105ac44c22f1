"""Applying a plan patch to a plan's state: ``append``, ``replace`` or ``update``.

Stages and tasks are matched by ``id``, else by name (case-insensitive). In ``update`` mode a
stage or task the plan does not have is conflicting state (``conflict``); a top-level patch
task names its stage with ``stage`` (id or name), or, without one, must match exactly one task
of the plan (``update``) or goes to the last stage (``append``).
"""

from __future__ import annotations

from typing import Any, Literal

from llmctl_contracts.special_nodes import PlanPatch, PlanStagePatch, PlanTaskPatch

from .invoker import ToolCallError
from .outcome import NodeInputError, conflicting_state

__all__ = ["StoreMode", "merge_plan"]

StoreMode = Literal["append", "replace", "update"]
State = dict[str, Any]


def _key(value: str | None) -> str | None:
    return value.strip().casefold() if value else None


def _find(items: list[State], ref_id: str | None, name: str | None) -> list[State]:
    if ref_id:
        return [i for i in items if i.get("id") == ref_id]
    wanted = _key(name)
    return [i for i in items if wanted is not None and _key(i.get("name")) == wanted]


def _conflict(message: str, field: str) -> ToolCallError:
    return ToolCallError(conflicting_state(message, field))


def _new_task(task: PlanTaskPatch, field: str) -> State:
    if not task.name:
        raise NodeInputError.field(f"{field}.name", "a new task needs a name")
    new: State = {"name": task.name, "description": task.description or ""}
    if task.id:
        new["id"] = task.id
    new["status"] = task.status.value if task.status else "pending"
    return new


def _new_stage(stage: PlanStagePatch, field: str) -> State:
    if not stage.name:
        raise NodeInputError.field(f"{field}.name", "a new stage needs a name")
    new: State = {
        "name": stage.name,
        "description": stage.description or "",
        "status": stage.status.value if stage.status else "pending",
        "tasks": [_new_task(t, f"{field}.tasks[{j}]") for j, t in enumerate(stage.tasks or [])],
    }
    if stage.id:
        new["id"] = stage.id
    return new


def _set_fields(target: State, patch: PlanStagePatch | PlanTaskPatch) -> None:
    if patch.description is not None:
        target["description"] = patch.description
    if patch.status is not None:
        target["status"] = patch.status.value
    if patch.id and patch.name:
        target["name"] = patch.name  # matched by id: the name may be renamed


def _one(items: list[State], ref_id: str | None, name: str | None, what: str, field: str) -> State:
    if not ref_id and not name:
        raise NodeInputError.field(field, f"give the {what}'s id or name to match it")
    found = _find(items, ref_id, name)
    if not found:
        raise _conflict(f"the plan has no {what} {ref_id or name!r}", field)
    if len(found) > 1:
        raise _conflict(f"{what} {ref_id or name!r} matches {len(found)} entries", field)
    return found[0]


def _merge_tasks(stage: State, tasks: list[PlanTaskPatch], mode: StoreMode, field: str) -> None:
    for j, task in enumerate(tasks):
        where = f"{field}.tasks[{j}]"
        if mode == "update":
            _set_fields(_one(stage["tasks"], task.id, task.name, "task", where), task)
        elif not _find(stage["tasks"], task.id, task.name):
            stage["tasks"].append(_new_task(task, where))


def _top_level_task(stages: list[State], task: PlanTaskPatch, mode: StoreMode, field: str) -> None:
    if task.stage:
        by_id = [s for s in stages if s.get("id") == task.stage]
        stage = by_id[0] if by_id else _one(stages, None, task.stage, "stage", f"{field}.stage")
        _merge_tasks(stage, [task], mode, field)
        return
    if mode == "update":
        matches = [t for s in stages for t in _find(s["tasks"], task.id, task.name)]
        if len(matches) != 1:
            what = "no task" if not matches else f"{len(matches)} tasks"
            raise _conflict(f"{what} named {task.id or task.name!r} in the plan", field)
        _set_fields(matches[0], task)
        return
    if not stages:
        raise _conflict("the plan has no stage to add the task to; name one in 'stage'", field)
    _merge_tasks(stages[-1], [task], mode, field)


def merge_plan(current: State | None, patch: PlanPatch, mode: StoreMode) -> State:
    """The plan fields (``name``, ``description``, ``completed``, ``stages``) after ``patch``.

    Args:
        current: The stored plan (``plan_get`` result) or ``None`` for a new plan.
        patch: The node's patch.
        mode: The node's ``store_mode``.

    Raises:
        ToolCallError: ``conflict`` when the patch does not fit the stored plan.
        NodeInputError: A new stage or task lacks a name.
    """
    stages: list[State] = [
        {**s, "tasks": [dict(t) for t in s["tasks"]]} for s in (current or {}).get("stages", [])
    ]
    if mode == "replace":
        stages = [_new_stage(s, f"patch.stages[{i}]") for i, s in enumerate(patch.stages or [])]
    else:
        for i, stage in enumerate(patch.stages or []):
            field = f"patch.stages[{i}]"
            if mode == "update":
                matched = _one(stages, stage.id, stage.name, "stage", field)
                _set_fields(matched, stage)
                _merge_tasks(matched, stage.tasks or [], "update", field)
                continue
            found = _find(stages, stage.id, stage.name)
            if found:
                _merge_tasks(found[0], stage.tasks or [], "append", field)
            else:
                stages.append(_new_stage(stage, field))
    for j, task in enumerate(patch.tasks or []):
        _top_level_task(stages, task, mode, f"patch.tasks[{j}]")
    completed = patch.completed
    if completed is None:
        completed = bool(stages) and all(s["status"] in ("completed", "skipped") for s in stages)
    return {
        "name": patch.name or (current or {}).get("name"),
        "description": (
            patch.description
            if patch.description is not None
            else (current or {}).get("description", "")
        ),
        "completed": completed,
        "stages": [_stage_input(s) for s in stages],
    }


def _stage_input(stage: State) -> State:
    """A stored or new stage in ``StageInput`` form (what ``plan_update`` accepts)."""
    out: State = {k: stage[k] for k in ("name", "description", "status") if k in stage}
    if stage.get("id"):
        out["id"] = stage["id"]
    out["tasks"] = [
        {k: t[k] for k in ("id", "name", "description", "status") if t.get(k) is not None}
        for t in stage["tasks"]
    ]
    return out
