"""Milestone tools: get, list, create, update, delete, set_status, attach_evidence."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

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
from .errors import invalid
from .operation import DomainOperation, operation
from .tables import milestones

__all__ = [
    "OPERATIONS",
    "Evidence",
    "MilestoneAttachEvidence",
    "MilestoneCreate",
    "MilestoneDelete",
    "MilestoneGet",
    "MilestoneList",
    "MilestonePage",
    "MilestoneRecord",
    "MilestoneSetStatus",
    "MilestoneStatus",
    "MilestoneUpdate",
]

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Text = Annotated[str, msgspec.Meta(max_length=20_000)]
MilestoneStatus = Literal["planned", "in_progress", "at_risk", "blocked", "completed", "cancelled"]
Priority = Literal["low", "medium", "high", "critical"]
Health = Literal["green", "yellow", "red"]
Percent = Annotated[int, msgspec.Meta(ge=0, le=100)]


class _Args(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class Evidence(msgspec.Struct, frozen=True, kw_only=True):
    """Evidence attached to a milestone (a link, a node run, an artifact, a note)."""

    id: str
    kind: str
    ref: str
    note: str
    added_at: str


class MilestoneRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A stored milestone."""

    id: str
    name: str
    description: str
    status: MilestoneStatus
    priority: Priority
    owner: str | None
    progress_percent: int
    health: Health
    latest_update: str | None
    evidence: list[Evidence]
    completed_at: str | None
    version: int
    created_at: str
    updated_at: str


class MilestonePage(msgspec.Struct, frozen=True, kw_only=True):
    """Milestones, most recently updated first."""

    items: list[MilestoneRecord]


class MilestoneCreate(_Args, frozen=True):
    """Arguments of ``milestone_create``."""

    name: Name
    description: Text = ""
    status: MilestoneStatus = "planned"
    priority: Priority = "medium"
    owner: Name | None = None
    progress_percent: Percent = 0
    health: Health = "green"
    latest_update: Text | None = None
    id: EntityId | None = None


class MilestoneGet(_Args, frozen=True):
    """Arguments of ``milestone_get``."""

    id: EntityId


class MilestoneList(_Args, frozen=True):
    """Arguments of ``milestone_list``."""

    status: MilestoneStatus | None = None
    limit: Limit = 50
    offset: Offset = 0


class MilestoneUpdate(_Args, frozen=True):
    """Arguments of ``milestone_update``: fields left out keep their value."""

    id: EntityId
    expected_version: ExpectedVersion
    name: Name | None = None
    description: Text | None = None
    status: MilestoneStatus | None = None
    priority: Priority | None = None
    owner: Name | None = None
    progress_percent: Percent | None = None
    health: Health | None = None
    latest_update: Text | None = None


class MilestoneDelete(_Args, frozen=True):
    """Arguments of ``milestone_delete``."""

    id: EntityId
    expected_version: ExpectedVersion | None = None


class MilestoneSetStatus(_Args, frozen=True):
    """Arguments of ``milestone_set_status``."""

    id: EntityId
    status: MilestoneStatus
    expected_version: ExpectedVersion | None = None


class MilestoneAttachEvidence(_Args, frozen=True):
    """Arguments of ``milestone_attach_evidence``."""

    id: EntityId
    kind: Literal["link", "node_run", "artifact", "note"]
    ref: Annotated[str, msgspec.Meta(min_length=1, max_length=2_000)]
    note: Text = ""
    expected_version: ExpectedVersion | None = None


_FIELDS = (
    "name",
    "description",
    "status",
    "priority",
    "owner",
    "progress_percent",
    "health",
    "latest_update",
)


def _record(row: Any) -> MilestoneRecord:
    return MilestoneRecord(
        id=row.id,
        name=row.name,
        description=row.description,
        status=row.status,
        priority=row.priority,
        owner=row.owner,
        progress_percent=row.progress_percent,
        health=row.health,
        latest_update=row.latest_update,
        evidence=msgspec.convert(row.evidence, list[Evidence]),
        completed_at=iso(row.completed_at),
        version=row.version,
        created_at=iso(row.created_at) or "",
        updated_at=iso(row.updated_at) or "",
    )


def _status_values(status: str, progress: int | None) -> dict[str, Any]:
    """Completing sets ``completed_at`` and 100 %; leaving ``completed`` clears the time."""
    if status == "completed":
        return {"status": status, "completed_at": datetime.now(UTC), "progress_percent": 100}
    values: dict[str, Any] = {"status": status, "completed_at": None}
    if progress is not None:
        values["progress_percent"] = progress
    return values


async def milestone_create(conn: AsyncConnection, args: MilestoneCreate) -> MilestoneRecord:
    """Create a milestone (status, priority, owner, progress, health, latest update)."""
    values: dict[str, Any] = {f: getattr(args, f) for f in _FIELDS}
    values.update(_status_values(args.status, args.progress_percent))
    values.update(id=assign_id(args.id), evidence=[], version=1)
    return _record(await insert_new(conn, milestones, values, "milestone"))


async def milestone_get(conn: AsyncConnection, args: MilestoneGet) -> MilestoneRecord:
    """Fetch one milestone with its evidence."""
    return _record(await require_row(conn, milestones, args.id, "milestone"))


async def milestone_list(conn: AsyncConnection, args: MilestoneList) -> MilestonePage:
    """List milestones, most recently updated first (optionally of one ``status``)."""
    where = milestones.c.status == args.status if args.status is not None else None
    rows = await recent_page(conn, milestones, where, args.limit, args.offset)
    return MilestonePage(items=[_record(r) for r in rows])


async def milestone_update(conn: AsyncConnection, args: MilestoneUpdate) -> MilestoneRecord:
    """Change milestone fields; ``expected_version`` must be current."""
    values = {f: getattr(args, f) for f in _FIELDS if getattr(args, f) is not None}
    if not values:
        raise invalid("name", "give at least one field to change")
    row = await locked_row(conn, milestones, args.id, args.expected_version, "milestone")
    if "status" in values and values["status"] != row.status:
        values.update(_status_values(values["status"], values.get("progress_percent")))
    return _record(await update_row(conn, milestones, row, values))


async def milestone_delete(conn: AsyncConnection, args: MilestoneDelete) -> Deleted:
    """Delete a milestone (checking ``expected_version`` when given)."""
    return await delete_row(conn, milestones, args.id, args.expected_version, "milestone")


async def milestone_set_status(conn: AsyncConnection, args: MilestoneSetStatus) -> MilestoneRecord:
    """Set a milestone's status (``completed`` records the completion time and 100 %)."""
    row = await locked_row(conn, milestones, args.id, args.expected_version, "milestone")
    if row.status == args.status:
        return _record(row)
    return _record(await update_row(conn, milestones, row, _status_values(args.status, None)))


async def milestone_attach_evidence(
    conn: AsyncConnection, args: MilestoneAttachEvidence
) -> MilestoneRecord:
    """Attach evidence (``kind`` + ``ref`` + note) to a milestone."""
    row = await locked_row(conn, milestones, args.id, args.expected_version, "milestone")
    if len(row.evidence) >= 500:
        raise invalid("id", "a milestone holds at most 500 evidence entries")
    entry = {
        "id": new_id(),
        "kind": args.kind,
        "ref": args.ref,
        "note": args.note,
        "added_at": datetime.now(UTC).isoformat(),
    }
    return _record(await update_row(conn, milestones, row, {"evidence": [*row.evidence, entry]}))


OPERATIONS: list[DomainOperation] = [
    operation("milestone_get", milestone_get, writes=False),
    operation("milestone_list", milestone_list, writes=False),
    operation("milestone_create", milestone_create, writes=True),
    operation("milestone_update", milestone_update, writes=True),
    operation("milestone_delete", milestone_delete, writes=True),
    operation("milestone_set_status", milestone_set_status, writes=True),
    operation("milestone_attach_evidence", milestone_attach_evidence, writes=True),
]
