"""Memory tools: scoped text memories with tags; get, list, create, update, delete, search."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

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
    require_row,
    update_row,
)
from .errors import invalid
from .operation import DomainOperation, operation
from .tables import memories

__all__ = [
    "OPERATIONS",
    "MemoryCreate",
    "MemoryDelete",
    "MemoryGet",
    "MemoryList",
    "MemoryPage",
    "MemoryRecord",
    "MemorySearch",
    "MemoryUpdate",
]

Scope = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Content = Annotated[str, msgspec.Meta(min_length=1, max_length=20_000)]
Tags = Annotated[
    list[Annotated[str, msgspec.Meta(min_length=1, max_length=200)]], msgspec.Meta(max_length=20)
]


class _Args(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class MemoryRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One stored memory."""

    id: str
    scope: str
    content: str
    tags: list[str]
    version: int
    created_at: str
    updated_at: str


class MemoryPage(msgspec.Struct, frozen=True, kw_only=True):
    """Memories, newest first."""

    items: list[MemoryRecord]


class MemoryCreate(_Args, frozen=True):
    """Arguments of ``memory_create``."""

    content: Content
    scope: Scope = "default"
    tags: Tags = msgspec.field(default_factory=list)
    id: EntityId | None = None


class MemoryGet(_Args, frozen=True):
    """Arguments of ``memory_get``."""

    id: EntityId


class MemoryList(_Args, frozen=True):
    """Arguments of ``memory_list`` (``scope``/``tag`` filter when given)."""

    scope: Scope | None = None
    tag: Scope | None = None
    limit: Limit = 50
    offset: Offset = 0


class MemoryUpdate(_Args, frozen=True):
    """Arguments of ``memory_update``: fields left out keep their value."""

    id: EntityId
    expected_version: ExpectedVersion
    content: Content | None = None
    tags: Tags | None = None


class MemoryDelete(_Args, frozen=True):
    """Arguments of ``memory_delete``."""

    id: EntityId
    expected_version: ExpectedVersion | None = None


class MemorySearch(_Args, frozen=True):
    """Arguments of ``memory_search``: every word of ``query`` counts once."""

    query: Annotated[str, msgspec.Meta(min_length=1, max_length=2_000)]
    scope: Scope | None = None
    tag: Scope | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=50)] = 10


def _record(row: Any) -> MemoryRecord:
    return MemoryRecord(
        id=row.id,
        scope=row.scope,
        content=row.content,
        tags=list(row.tags),
        version=row.version,
        created_at=iso(row.created_at) or "",
        updated_at=iso(row.updated_at) or "",
    )


def _filtered(query: sa.Select[Any], scope: str | None, tag: str | None) -> sa.Select[Any]:
    if scope is not None:
        query = query.where(memories.c.scope == scope)
    if tag is not None:
        query = query.where(memories.c.tags.contains([tag]))
    return query


async def memory_create(conn: AsyncConnection, args: MemoryCreate) -> MemoryRecord:
    """Store a new memory (text ``content``) in ``scope`` with optional ``tags``."""
    values = {
        "id": assign_id(args.id),
        "scope": args.scope,
        "content": args.content,
        "tags": args.tags,
        "version": 1,
    }
    return _record(await insert_new(conn, memories, values, "memory"))


async def memory_get(conn: AsyncConnection, args: MemoryGet) -> MemoryRecord:
    """Fetch one memory by id."""
    return _record(await require_row(conn, memories, args.id, "memory"))


async def memory_list(conn: AsyncConnection, args: MemoryList) -> MemoryPage:
    """List memories, newest first, optionally of one ``scope`` and/or carrying ``tag``."""
    query = _filtered(sa.select(memories), args.scope, args.tag)
    query = query.order_by(memories.c.created_at.desc(), memories.c.id.desc())
    rows = (await conn.execute(query.limit(args.limit).offset(args.offset))).all()
    return MemoryPage(items=[_record(r) for r in rows])


async def memory_update(conn: AsyncConnection, args: MemoryUpdate) -> MemoryRecord:
    """Change a memory's ``content`` and/or ``tags``; ``expected_version`` must be current."""
    if args.content is None and args.tags is None:
        raise invalid("content", "give content and/or tags to change")
    row = await locked_row(conn, memories, args.id, args.expected_version, "memory")
    values: dict[str, Any] = {}
    if args.content is not None:
        values["content"] = args.content
    if args.tags is not None:
        values["tags"] = args.tags
    return _record(await update_row(conn, memories, row, values))


async def memory_delete(conn: AsyncConnection, args: MemoryDelete) -> Deleted:
    """Delete a memory (checking ``expected_version`` when given)."""
    return await delete_row(conn, memories, args.id, args.expected_version, "memory")


async def memory_search(conn: AsyncConnection, args: MemorySearch) -> MemoryPage:
    """Find memories containing words of ``query`` (case-insensitive), best matches first."""
    words = sorted({w for w in args.query.lower().split() if w})[:20]
    if not words:
        raise invalid("query", "needs at least one word")
    score = sum(
        (sa.case((memories.c.content.icontains(w, autoescape=True), 1), else_=0) for w in words),
        sa.literal(0),
    ).label("score")
    query = _filtered(sa.select(memories, score), args.scope, args.tag)
    query = query.where(score > 0).order_by(
        score.desc(), memories.c.created_at.desc(), memories.c.id.desc()
    )
    rows = (await conn.execute(query.limit(args.limit))).all()
    return MemoryPage(items=[_record(r) for r in rows])


OPERATIONS: list[DomainOperation] = [
    operation("memory_get", memory_get, writes=False),
    operation("memory_list", memory_list, writes=False),
    operation("memory_create", memory_create, writes=True),
    operation("memory_update", memory_update, writes=True),
    operation("memory_delete", memory_delete, writes=True),
    operation("memory_search", memory_search, writes=False),
]
