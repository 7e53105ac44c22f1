"""Read side of node-run artifacts over request/reply: ``run.artifacts``, ``artifact.get``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from llmctl_contracts.artifacts import ArtifactKind, ArtifactRecord, ListArtifacts
from llmctl_contracts.rpc import GetById
from llmctl_libs.store import Database

from .flowcharts import not_found
from .paging import fitting
from .queries import require_run
from .tables import artifacts, node_runs

__all__ = ["ArtifactQueries"]

_METADATA = [c for c in artifacts.c if c.name != "content"]


def _record(row: Any, *, with_content: bool) -> ArtifactRecord:
    return ArtifactRecord(
        id=row.id,
        run_id=row.run_id,
        node_run_id=row.node_run_id,
        node_id=row.node_id,
        node_type=row.node_type,
        kind=ArtifactKind(row.kind),
        status=row.status,
        content_sha256=row.content_sha256,
        size_bytes=row.size_bytes,
        idempotency_key=row.idempotency_key,
        correlation_id=row.correlation_id,
        request_id=row.request_id,
        created_at=row.created_at.isoformat(),
        updated_at=row.updated_at.isoformat(),
        superseded=row.superseded,
        content=row.content if with_content else None,
    )


class ArtifactQueries:
    """Answers artifact queries from the ``artifacts`` table."""

    def __init__(self, db: Database, *, answer_bytes: Callable[[], int] | None = None) -> None:
        """``answer_bytes`` gives the largest answer the bus carries now (unbounded if None):
        a page of artifacts stops before it (see ``paging.fitting``)."""
        self._db = db
        self._answer_bytes = answer_bytes

    def _select(self, *, with_content: bool) -> sa.Select[Any]:
        columns = list(artifacts.c) if with_content else _METADATA
        return sa.select(*columns, node_runs.c.superseded).join(
            node_runs, node_runs.c.id == artifacts.c.node_run_id
        )

    async def list(self, request: ListArtifacts) -> list[ArtifactRecord]:
        """A run's artifacts, oldest node run first, paged by ``limit``/``offset``: fewer than
        ``limit`` when more would not fit in one answer."""
        query = self._select(with_content=request.include_content).where(
            artifacts.c.run_id == request.run_id
        )
        if request.node_run_id is not None:
            query = query.where(artifacts.c.node_run_id == request.node_run_id)
        if request.kind is not None:
            query = query.where(artifacts.c.kind == request.kind.value)
        query = (
            query.order_by(node_runs.c.created_at, node_runs.c.id)
            .limit(request.limit)
            .offset(request.offset)
        )
        async with self._db.autocommit() as conn:
            await require_run(conn, request.run_id)
            rows = (await conn.execute(query)).all()
        return fitting(
            self._answer_bytes, (_record(r, with_content=request.include_content) for r in rows)
        )

    async def get(self, request: GetById) -> ArtifactRecord:
        """One artifact by its id (``art_<node_run_id>``) or by its node run id."""
        query = self._select(with_content=True).where(
            sa.or_(artifacts.c.id == request.id, artifacts.c.node_run_id == request.id)
        )
        async with self._db.autocommit() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            raise not_found("artifact", request.id)
        return _record(row, with_content=True)
