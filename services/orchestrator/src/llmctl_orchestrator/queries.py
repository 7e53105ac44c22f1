"""Read side: run, node-run and run-event queries served over request/reply."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from llmctl_contracts import ErrorBody, ErrorCode, RunStatus, decode_envelope
from llmctl_contracts.rpc import (
    RUN_SORTS,
    GetById,
    ListNodeRuns,
    ListRunEvents,
    ListRuns,
    NodeRunRecord,
    RunEventRecord,
    RunPage,
    RunRecord,
)
from llmctl_libs.rpc import RpcError
from llmctl_libs.service import Persistence
from llmctl_libs.store import Database

from .flowcharts import not_found
from .paging import check_page, fitting, invalid, omit_largest, order_by
from .tables import RUN_COLUMNS, node_runs, runs

__all__ = ["RunQueries", "require_run", "run_record", "run_record_in"]

MAX_LIST_LIMIT = 10_000
"""Most records an events or node-runs page may be asked for."""
_OMITTED_ROOM = 256
"""Bytes kept free in a shrunk record for its list of omitted fields."""
_LARGE_NODE_RUN_FIELDS = ("input_context", "output", "routing_state")


def _error(value: Any) -> ErrorBody | None:
    return None if value is None else msgspec.convert(value, ErrorBody)


def _record(row: Any) -> RunRecord:
    return RunRecord(
        id=row.id,
        flowchart_id=row.flowchart_id,
        flowchart_version=row.flowchart_version,
        status=row.status,
        input=row.input,
        node_executions=row.node_executions,
        created_at=row.created_at.isoformat(),
        updated_at=row.updated_at.isoformat(),
        correlation_id=row.correlation_id,
        error=_error(row.error),
        last_sequence=row.last_sequence,
        outcome=row.outcome,
    )


async def run_record_in(conn: AsyncConnection, run_id: str) -> RunRecord:
    """The projection of one run as ``conn`` (maybe mid-transaction) sees it."""
    row = (await conn.execute(sa.select(*RUN_COLUMNS).where(runs.c.id == run_id))).first()
    if row is None:
        raise not_found("run", run_id)
    return _record(row)


async def require_run(conn: AsyncConnection, run_id: str) -> None:
    """Raise ``not_found`` unless the run exists (for reads of what belongs to a run)."""
    found = await conn.execute(sa.select(sa.literal(1)).where(runs.c.id == run_id))
    if found.first() is None:
        raise not_found("run", run_id)


async def run_record(db: Database, run_id: str) -> RunRecord:
    """The projection of one run."""
    async with db.autocommit() as conn:
        return await run_record_in(conn, run_id)


class RunQueries:
    """Answers the gateway's run queries from projections and the event store."""

    def __init__(
        self, persistence: Persistence, *, answer_bytes: Callable[[], int] | None = None
    ) -> None:
        """``answer_bytes`` gives the largest answer the bus carries now (unbounded if None):
        a page of events stops before it would pass it (see :meth:`events`)."""
        self._db = persistence.database
        self._store = persistence.event_store
        self._answer_bytes = answer_bytes

    async def get(self, request: GetById) -> RunRecord:
        """One run."""
        return await run_record(self._db, request.id)

    async def runs(self, request: ListRuns) -> RunPage:
        """One page of runs matching the filters, in ``sort`` order, with the total."""
        check_page(request.page, request.page_size)
        ordering = order_by(
            request.sort,
            RUN_SORTS,
            {"created_at": runs.c.created_at, "updated_at": runs.c.updated_at},
            runs.c.id,
        )
        where = []
        if request.flowchart_id is not None:
            where.append(runs.c.flowchart_id == request.flowchart_id)
        if request.status is not None:
            if request.status not in {s.value for s in RunStatus}:
                raise invalid("status", f"must be one of {', '.join(s.value for s in RunStatus)}")
            where.append(runs.c.status == request.status)
        async with self._db.autocommit() as conn:
            total = (
                await conn.execute(sa.select(sa.func.count()).select_from(runs).where(*where))
            ).scalar_one()
            rows = (
                await conn.execute(
                    sa.select(*RUN_COLUMNS)
                    .where(*where)
                    .order_by(*ordering)
                    .limit(request.page_size)
                    .offset((request.page - 1) * request.page_size)
                )
            ).all()
        return RunPage(
            items=[_record(r) for r in rows],
            total=int(total),
            page=request.page,
            page_size=request.page_size,
        )

    async def node_runs(self, request: ListNodeRuns) -> list[NodeRunRecord]:
        """A run's node runs in activation order, from position ``offset`` on: up to
        ``limit``, and fewer when the page would not fit in one bus message (it always has
        the first; page on until a page is empty). New node runs only ever come last."""
        _check_limit(request.limit)
        if request.offset < 0:
            raise invalid("offset", "must be 0 or more")
        async with self._db.autocommit() as conn:
            await require_run(conn, request.run_id)
            rows = (
                await conn.execute(
                    sa.select(node_runs)
                    .where(node_runs.c.run_id == request.run_id)
                    .order_by(
                        node_runs.c.created_at, node_runs.c.node_id, node_runs.c.execution_index
                    )
                    .offset(request.offset)
                    .limit(request.limit)
                )
            ).all()
        return fitting(
            self._answer_bytes,
            (
                NodeRunRecord(
                    id=r.id,
                    run_id=r.run_id,
                    node_id=r.node_id,
                    node_type=r.node_type,
                    execution_index=r.execution_index,
                    status=r.status,
                    attempt=r.attempt,
                    input_context=r.input_context,
                    output=r.output,
                    routing_state=r.routing_state,
                    error=_error(r.error),
                    created_at=r.created_at.isoformat(),
                    updated_at=r.updated_at.isoformat(),
                    superseded=r.superseded,
                )
                for r in rows
            ),
            _shrink_node_run,
        )

    async def events(self, request: ListRunEvents) -> list[RunEventRecord]:
        """A run's timeline events after ``after_sequence``: up to ``limit``, and fewer when
        the page would not fit in one bus message (it always has the first event; page on
        until a page is empty)."""
        _check_limit(request.limit)
        async with self._db.autocommit() as conn:
            await require_run(conn, request.run_id)
            stored = await self._store.read(
                conn, request.run_id, after_version=request.after_sequence, limit=request.limit
            )
        return fitting(
            self._answer_bytes,
            (_event_record(request.run_id, event) for event in stored),
            _shrink_event,
        )


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_LIST_LIMIT:
        raise RpcError(
            ErrorBody.for_field(
                ErrorCode.VALIDATION_FAILED,
                "limit",
                f"must be between 1 and {MAX_LIST_LIMIT}",
                message=f"limit must be between 1 and {MAX_LIST_LIMIT}",
            )
        )


def _event_record(run_id: str, event: Any) -> RunEventRecord:
    env = decode_envelope(event.envelope)
    return RunEventRecord(
        event_id=env.event_id,
        type=env.type,
        version=env.version,
        sequence=event.version,
        occurred_at=env.occurred_at.isoformat(),
        run_id=run_id,
        correlation_id=env.correlation_id,
        payload=msgspec.json.decode(env.payload),
        node_run_id=env.node_run_id,
        causation_id=env.causation_id,
        request_id=env.request_id,
        superseded=event.superseded,
    )


def _shrink_event(record: RunEventRecord, room: int) -> RunEventRecord:
    """The event with its largest payload fields emptied, to fit in ``room`` bytes."""
    rest = len(msgspec.json.encode(msgspec.structs.replace(record, payload={})))
    payload, omitted = omit_largest(record.payload, room - rest - _OMITTED_ROOM)
    return msgspec.structs.replace(record, payload=payload, omitted=omitted)


def _shrink_node_run(record: NodeRunRecord, room: int) -> NodeRunRecord:
    """The node run with its largest fields of context, output and routing state emptied, to
    fit in ``room`` bytes."""
    large = {name: getattr(record, name) for name in _LARGE_NODE_RUN_FIELDS}
    bare = msgspec.structs.replace(record, input_context={}, output=None, routing_state=None)
    rest = len(msgspec.json.encode(bare))
    kept, omitted = omit_largest(large, room - rest - _OMITTED_ROOM)
    return msgspec.structs.replace(record, **kept, omitted=omitted)
