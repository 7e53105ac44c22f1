"""Row helpers shared by the domains: ids, locking reads, optimistic version checks."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from llmctl_libs.ids import new_id

from .errors import conflict, not_found

__all__ = [
    "Deleted",
    "EntityId",
    "ExpectedVersion",
    "Limit",
    "Offset",
    "assign_id",
    "delete_row",
    "insert_new",
    "iso",
    "locked_row",
    "recent_page",
    "require_row",
    "update_row",
]

EntityId = Annotated[
    str, msgspec.Meta(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+(?!\n)$")
]
ExpectedVersion = Annotated[int, msgspec.Meta(ge=1)]
Limit = Annotated[int, msgspec.Meta(ge=1, le=200)]
Offset = Annotated[int, msgspec.Meta(ge=0)]


class Deleted(msgspec.Struct, frozen=True, kw_only=True):
    """A deleted entity's id."""

    id: str
    deleted: bool = True


def iso(value: datetime | None) -> str | None:
    """A timestamp as ISO 8601 text."""
    return None if value is None else value.isoformat()


def assign_id(requested: str | None) -> str:
    """The caller's id, or a new UUIDv7."""
    return requested or new_id()


async def require_row(conn: AsyncConnection, table: sa.Table, entity_id: str, what: str) -> Any:
    """The row ``entity_id`` of ``table``; ``not_found`` when absent."""
    row = (await conn.execute(sa.select(table).where(table.c.id == entity_id))).first()
    if row is None:
        raise not_found(what, entity_id)
    return row


async def locked_row(
    conn: AsyncConnection, table: sa.Table, entity_id: str, expected: int | None, what: str
) -> Any:
    """Like :func:`require_row`, locking the row until the transaction ends; ``conflict`` when
    ``expected`` (a version) is given and the row has moved on."""
    row = (
        await conn.execute(sa.select(table).where(table.c.id == entity_id).with_for_update())
    ).first()
    if row is None:
        raise not_found(what, entity_id)
    if expected is not None and row.version != expected:
        raise conflict(
            f"{what} {row.id!r} is at version {row.version}, not {expected}: read it again",
            "expected_version",
        )
    return row


async def recent_page(
    conn: AsyncConnection,
    table: sa.Table,
    where: sa.ColumnElement[bool] | None,
    limit: int,
    offset: int,
) -> list[Any]:
    """Rows of ``table`` (those matching ``where``), most recently updated first."""
    query = sa.select(table)
    if where is not None:
        query = query.where(where)
    query = query.order_by(table.c.updated_at.desc(), table.c.id).limit(limit).offset(offset)
    return list((await conn.execute(query)).all())


async def delete_row(
    conn: AsyncConnection, table: sa.Table, entity_id: str, expected: int | None, what: str
) -> Deleted:
    """Delete one row after the version check."""
    await locked_row(conn, table, entity_id, expected, what)
    await conn.execute(sa.delete(table).where(table.c.id == entity_id))
    return Deleted(id=entity_id)


async def insert_new(
    conn: AsyncConnection, table: sa.Table, values: dict[str, Any], what: str
) -> Any:
    """Insert a row; ``conflict`` when the id is taken."""
    row = (
        await conn.execute(
            insert(table)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["id"])
            .returning(table)
        )
    ).first()
    if row is None:
        raise conflict(f"{what} {values['id']!r} already exists", "id")
    return row


async def update_row(
    conn: AsyncConnection, table: sa.Table, row: Any, values: dict[str, Any]
) -> Any:
    """Write ``values`` to a locked row, bumping its version."""
    return (
        await conn.execute(
            sa.update(table)
            .where(table.c.id == row.id)
            .values(**values, version=row.version + 1, updated_at=sa.func.now())
            .returning(table)
        )
    ).one()
