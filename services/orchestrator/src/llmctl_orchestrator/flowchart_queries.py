"""Read side of flowcharts: paginated search and version history."""

from __future__ import annotations

from typing import Any

import msgspec
import sqlalchemy as sa

from llmctl_contracts import ErrorBody, ErrorCode
from llmctl_contracts.flowchart import FlowchartDefinition
from llmctl_contracts.rpc import (
    FLOWCHART_SORTS,
    FlowchartPage,
    FlowchartRecord,
    FlowchartSummary,
    FlowchartVersionSummary,
    GetById,
    GetFlowchartVersion,
    ListFlowcharts,
)
from llmctl_libs.rpc import RpcError
from llmctl_libs.service import Persistence
from llmctl_libs.store.search import like_pattern

from .flowcharts import live_latest_version
from .paging import check_page, order_by
from .tables import flowchart_versions, flowcharts

__all__ = ["FlowchartQueries"]


def _summary(row: Any) -> FlowchartSummary:
    return FlowchartSummary(
        id=row.id,
        name=row.name,
        latest_version=row.latest_version,
        created_at=row.created_at.isoformat(),
        updated_at=row.updated_at.isoformat(),
    )


class FlowchartQueries:
    """Answers flowchart list and version queries (deleted flowcharts are not found)."""

    def __init__(self, persistence: Persistence) -> None:
        self._db = persistence.database

    async def search(self, request: ListFlowcharts) -> FlowchartPage:
        """One page of live flowcharts matching ``q``, in ``sort`` order, with the total."""
        check_page(request.page, request.page_size)
        ordering = order_by(
            request.sort,
            FLOWCHART_SORTS,
            {
                "name": sa.func.lower(flowcharts.c.name),
                "created_at": flowcharts.c.created_at,
                "updated_at": flowcharts.c.updated_at,
            },
            flowcharts.c.id,
        )
        where = [flowcharts.c.deleted_at.is_(None)]
        if request.q:
            where.append(
                sa.func.lower(flowcharts.c.name).like(like_pattern(request.q.lower()), escape="\\")
            )
        async with self._db.autocommit() as conn:
            total = (
                await conn.execute(sa.select(sa.func.count()).select_from(flowcharts).where(*where))
            ).scalar_one()
            rows = (
                await conn.execute(
                    sa.select(
                        flowcharts.c.id,
                        flowcharts.c.name,
                        flowcharts.c.latest_version,
                        flowcharts.c.created_at,
                        flowcharts.c.updated_at,
                    )
                    .where(*where)
                    .order_by(*ordering)
                    .limit(request.page_size)
                    .offset((request.page - 1) * request.page_size)
                )
            ).all()
        return FlowchartPage(
            items=[_summary(r) for r in rows],
            total=int(total),
            page=request.page,
            page_size=request.page_size,
        )

    async def versions(self, request: GetById) -> list[FlowchartVersionSummary]:
        """Every version of a flowchart, oldest first."""
        async with self._db.autocommit() as conn:
            await live_latest_version(conn, request.id)
            rows = (
                await conn.execute(
                    sa.select(
                        flowchart_versions.c.version,
                        flowchart_versions.c.definition,
                        flowchart_versions.c.created_at,
                    )
                    .where(flowchart_versions.c.flowchart_id == request.id)
                    .order_by(flowchart_versions.c.version)
                )
            ).all()
        return [
            FlowchartVersionSummary(
                version=r.version,
                name=msgspec.json.decode(r.definition, type=FlowchartDefinition).name,
                created_at=r.created_at.isoformat(),
            )
            for r in rows
        ]

    async def version(self, request: GetFlowchartVersion) -> FlowchartRecord:
        """One version of a flowchart."""
        async with self._db.autocommit() as conn:
            await live_latest_version(conn, request.id)
            row = (
                await conn.execute(
                    sa.select(
                        flowchart_versions.c.definition, flowchart_versions.c.created_at
                    ).where(
                        flowchart_versions.c.flowchart_id == request.id,
                        flowchart_versions.c.version == request.version,
                    )
                )
            ).first()
        if row is None:
            raise RpcError(
                ErrorBody.for_field(
                    ErrorCode.NOT_FOUND,
                    "version",
                    "no such version",
                    message=f"flowchart {request.id!r} has no version {request.version}",
                )
            )
        definition = msgspec.json.decode(row.definition, type=FlowchartDefinition)
        return FlowchartRecord(
            id=request.id,
            version=request.version,
            name=definition.name,
            definition=definition,
            created_at=row.created_at.isoformat(),
        )
